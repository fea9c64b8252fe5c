// The test build's extra calls (wasm/test_exports.cpp) under friendly names, as js/src/engine.js
// gives the production ones. Only tests use these, so they are not exports of the production wasm.
// `module` must be the test build (load-engine.mjs loadTestModule()), and engines passed to
// attribute() and trackJson() must come from that same module.
import { unwrap } from '../../js/src/errors.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function testTools(module) {
  const x = module.exports;
  // Strings back to back in the scratch buffer; their byte lengths.
  const write = (...texts) => {
    const parts = texts.map((t) => encoder.encode(t));
    let at = x.wm_test_input(parts.reduce((n, p) => n + p.length, 0));
    for (const p of parts) {
      module.HEAPU8.set(p, at);
      at += p.length;
    }
    return parts.map((p) => p.length);
  };
  const answer = (size) => decoder.decode(module.HEAPU8.subarray(x.wm_test_output(), x.wm_test_output() + size));
  return {
    classifyChannel: (campaign, referrer = '', pageHost = '') => {
      const [a, b, c] = write(JSON.stringify(campaign || {}), referrer, pageHost);
      return unwrap(answer(x.wm_test_classify_channel(a, b, c))).channel;
    },
    attributePath: (path, at, model, options = {}) => {
      const [a, b, c] = write(JSON.stringify(path), model, JSON.stringify(options));
      return unwrap(answer(x.wm_test_attribute_path(a, at, b, c)));
    },
    mergeLogs: (a, b, blocked = []) => {
      const [la, lb, lc] = write(JSON.stringify(a), JSON.stringify(b), JSON.stringify(blocked));
      return unwrap(answer(x.wm_test_merge_logs(la, lb, lc)));
    },
    /** The JSON boundary the typed one replaced: a JourneyEngine's results for envelopes. */
    trackJson: (engine, events) => {
      const handle = engine._live();
      const [length] = handle._write(JSON.stringify(events));
      return unwrap(handle._text(x.wm_test_track_json(handle._ptr, length)));
    },
    /** A JourneyEngine's attribution: [{channel, credit}, ...]. */
    attribute: (engine, model, at) => {
      const handle = engine._live();
      const [length] = handle._write(model);
      return unwrap(handle._text(x.wm_test_engine_attribute(handle._ptr, length, at)));
    },
  };
}
