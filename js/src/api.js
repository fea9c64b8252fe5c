// The public API around a Tracker. Every entry point catches: a bad argument or an internal
// failure becomes an 'error' event (and a console warning in debug mode), never an exception in
// the site's code. Calls shaped like Segment's analytics.js (track/identify/page with their
// optional arguments and callbacks) are accepted, so a site can switch by changing the snippet.
import { Tracker } from './tracker.js';

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const lastFunction = (args) => args.find((a) => typeof a === 'function');

// Segment: page([category], [name], [properties], [options], [callback]).
function pageArgs(args) {
  const strings = [];
  let properties = {};
  for (const a of args) {
    if (typeof a === 'string' && strings.length < 2) strings.push(a);
    else if (isObject(a)) {
      properties = a;
      break;
    }
  }
  const props = { ...properties };
  if (strings.length === 2) Object.assign(props, { category: strings[0], name: strings[1] });
  else if (strings.length === 1) props.name = strings[0];
  return props;
}

// Segment: identify([userId], [traits], [options], [callback]).
function identifyArgs(args) {
  if (isObject(args[0])) return [null, args[0]];
  return [args[0], isObject(args[1]) ? args[1] : undefined];
}

/** Builds the API object for one tracker. `platform` tells the tracker how to load the wasm. */
export function createApi(platform) {
  const tracker = new Tracker(platform);
  const guard = (name, fn, fallback) => (...args) => {
    try {
      return fn(...args);
    } catch (err) {
      tracker._report({ code: (err && err.code) || 'internal', message: `${name}(): ${(err && err.message) || err}` });
      return fallback;
    }
  };
  const settle = (promise, callback) => {
    const p = Promise.resolve(promise).catch((err) => {
      tracker._report({ code: (err && err.code) || 'internal', message: (err && err.message) || String(err) });
    });
    if (callback) p.then(() => guard('callback', callback)());
    return p;
  };

  const api = {
    init: guard('init', (options) => tracker.init(options), Promise.resolve({ ok: false })),
    // track() always answers { id, status }: 'dropped', with the reason, when it kept nothing.
    track: (...args) => {
      try {
        const [name, properties, ...rest] = args;
        const result = tracker.track(name, isObject(properties) ? properties : properties == null ? undefined : properties);
        const callback = lastFunction(rest) || (typeof properties === 'function' ? properties : null);
        if (callback) settle(null, callback);
        return result && typeof result === 'object' ? result : { id: null, status: 'dropped', reason: 'not_ready' };
      } catch (err) {
        const reason = (err && err.code) || 'internal';
        tracker._report({ code: reason, message: `track(): ${(err && err.message) || err}` });
        return { id: null, status: 'dropped', reason };
      }
    },
    page: guard('page', (...args) => {
      const result = tracker.page(pageArgs(args));
      const callback = lastFunction(args);
      if (callback) settle(null, callback);
      return result;
    }),
    identify: guard('identify', (...args) => {
      const [userId, traits] = identifyArgs(args);
      const callback = lastFunction(args);
      const result = userId == null ? undefined : tracker.call('identify', [userId, traits]);
      if (callback) settle(result, callback);
      return result;
    }),
    reset: guard('reset', () => tracker.call('reset', [])),
    consent: guard('consent', (state) => settle(tracker.call('consent', [state]))),
    stage: guard('stage', () => tracker.stage(), null),
    score: guard('score', (group) => tracker.score(group), 0),
    context: guard('context', () => tracker.context(), null),
    on: guard('on', (type, handler) => tracker.on(type, handler), false),
    off: guard('off', (type, handler) => tracker.off(type, handler)),
    flush: guard('flush', (options) => settle(tracker.flush(options)).then((r) => r || { delivered: 0, pending: 0, failed: 0 }), Promise.resolve({ delivered: 0, pending: 0, failed: 0 })),
    setMap: guard('setMap', (map) => tracker.setMap(map), false),
    stats: guard('stats', () => tracker.stats(), null),
    destroy: guard('destroy', () => tracker.destroy()),
    // Segment's analytics.js names that sites call often; they map onto the calls above.
    ready: guard('ready', (callback) => settle(tracker.whenReady, callback)),
    user: guard('user', () => ({ id: () => tracker._userId, anonymousId: () => tracker._anonymousId })),
    version: '0.1.0',
  };
  Object.defineProperty(api, '_tracker', { value: tracker, enumerable: false });
  return api;
}
