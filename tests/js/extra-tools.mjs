// The test build's extra calls (wasm/test_bindings.cpp) under friendly names, as js/src/engine.js
// gives the production ones. Only tests use these, so they are not exports of the production wasm.
// `module` must be the test build (load-engine.mjs loadTestModule()), and engines passed to
// attribute() must come from that same module.
import { unwrap } from '../../js/src/errors.js';

export function testTools(module) {
  return {
    classifyChannel: (campaign, referrer = '', pageHost = '') =>
      unwrap(module._classifyChannel(JSON.stringify(campaign || {}), referrer, pageHost)).channel,
    buildBatches: (envelopes, maxBytes, sentAt, siteKey = '') =>
      unwrap(module._buildBatches(JSON.stringify(envelopes), maxBytes, sentAt, siteKey)),
    attributePath: (path, at, model, options = {}) =>
      unwrap(module._attributePath(JSON.stringify(path), at, model, JSON.stringify(options))),
    mergeLogs: (a, b, blocked = []) =>
      unwrap(module._mergeLogs(JSON.stringify(a), JSON.stringify(b), JSON.stringify(blocked))),
    /** The JSON boundary the typed one replaced: a JourneyEngine's results for envelopes. */
    trackJson: (engine, events) => unwrap(module._trackJson(engine._live(), JSON.stringify(events))),
    /** A JourneyEngine's attribution: [{channel, credit}, ...]. */
    attribute: (engine, model, at) => unwrap(module._engineAttribute(engine._live(), model, at)),
  };
}
