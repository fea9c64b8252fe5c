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

const EVENT_TYPES = ['ready', 'stage', 'event', 'trigger', 'error'];
const isOptional = (v, test) => v === undefined || test(v);
const isFunction = (v) => typeof v === 'function';

// What each call accepts. A check returns null when the arguments are fine, else what is wrong and
// how the call goes on: `refuse` (its value is returned, nothing is done) or `args` (the call runs
// with those instead). Either way one `error` event says what was wrong: no call throws, none is
// silently ignored. tests/sdk/dist-node.test.mjs runs every call of docs/sdk.md with bad arguments.
const ARGUMENT_CHECKS = {
  init: ([options]) => (isOptional(options, isObject) ? null
    : { message: `options must be an object, got ${typeOf(options)}`, refuse: Promise.resolve({ ok: false, error: { code: 'invalid_argument', message: 'init(): options must be an object' } }) }),
  page: (args) => (args.every((a) => a == null || typeof a === 'string' || isObject(a) || isFunction(a)) ? null
    : { message: `expected ([category], [name], [properties], [options], [callback]), got ${args.map(typeOf).join(', ')}`, refuse: { id: null, status: 'dropped', reason: 'invalid_argument' } }),
  identify: ([userId, traits]) => {
    if (isObject(userId)) return null; // identify(traits)
    if ((typeof userId === 'string' && userId !== '') || (typeof userId === 'number' && Number.isFinite(userId))) {
      return isOptional(traits, (t) => t === null || isObject(t) || isFunction(t)) ? null
        : { message: `traits must be an object, got ${typeOf(traits)}`, args: [userId] };
    }
    return { message: `userId must be a non-empty string, got ${typeOf(userId)}`, refuse: undefined };
  },
  reset: (args) => (args.length === 0 ? null : { message: 'takes no arguments (ignored)', args: [] }),
  stage: (args) => (args.length === 0 ? null : { message: 'takes no arguments (ignored)', args: [] }),
  context: (args) => (args.length === 0 ? null : { message: 'takes no arguments (ignored)', args: [] }),
  stats: (args) => (args.length === 0 ? null : { message: 'takes no arguments (ignored)', args: [] }),
  score: ([group]) => (isOptional(group, (g) => typeof g === 'string') ? null
    : { message: `group must be a string, got ${typeOf(group)} (the total is returned)`, args: [] }),
  on: ([type, handler]) => {
    if (!EVENT_TYPES.includes(type)) return { message: `type must be one of ${EVENT_TYPES.join(', ')}, got ${JSON.stringify(String(type)).slice(0, 40)}`, refuse: false };
    return isFunction(handler) ? null : { message: `handler must be a function, got ${typeOf(handler)}`, refuse: false };
  },
  off: ([type, handler]) => (EVENT_TYPES.includes(type) && isOptional(handler, isFunction) ? null
    : { message: `expected (type, [handler]) with a type among ${EVENT_TYPES.join(', ')}`, refuse: undefined }),
  flush: ([options]) => (isOptional(options, isObject) ? null
    : { message: `options must be an object such as { timeoutMs }, got ${typeOf(options)} (ignored)`, args: [] }),
  setMap: ([map]) => (isObject(map) || typeof map === 'string' ? null
    : { message: `map must be an object, JSON text or a compiled map, got ${typeOf(map)}`, refuse: Promise.resolve(false) }),
  ready: ([callback]) => (isOptional(callback, isFunction) ? null
    : { message: `callback must be a function, got ${typeOf(callback)} (ignored)`, args: [] }),
};

function typeOf(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v;
}

/** Builds the API object for one tracker. `platform` tells the tracker how to load the wasm. */
export function createApi(platform) {
  const tracker = new Tracker(platform);
  // `fallback` is what a call that threw returns; a function makes it from the error's code.
  const guard = (name, fn, fallback) => (...args) => {
    try {
      return fn(...args);
    } catch (err) {
      const code = (err && err.code) || 'internal';
      tracker._report({ code, message: `${name}(): ${(err && err.message) || err}` });
      return typeof fallback === 'function' ? fallback(code) : fallback;
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
    track: guard('track', (name, properties, ...rest) => {
      const result = tracker.track(name, isObject(properties) ? properties : properties == null ? undefined : properties);
      const callback = lastFunction(rest) || (typeof properties === 'function' ? properties : null);
      if (callback) settle(null, callback);
      return result;
    }, (reason) => ({ id: null, status: 'dropped', reason })),
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
    setMap: guard('setMap', (map) => settle(tracker.setMap(map)).then((ok) => ok === true), Promise.resolve(false)),
    stats: guard('stats', () => tracker.stats(), null),
    destroy: guard('destroy', () => tracker.destroy()),
    // Segment's analytics.js names that sites call often; they map onto the calls above.
    ready: guard('ready', (callback) => settle(tracker.whenReady, callback)),
    user: guard('user', () => ({ id: () => tracker._userId, anonymousId: () => tracker._anonymousId })),
    version: '0.1.0',
  };
  for (const [name, check] of Object.entries(ARGUMENT_CHECKS)) {
    const call = api[name];
    api[name] = (...args) => {
      let problem = null;
      try {
        problem = check(args);
      } catch {
        problem = { message: 'its arguments could not be read', refuse: undefined };
      }
      if (!problem) return call(...args);
      tracker._report({ code: 'invalid_argument', message: `${name}(): ${problem.message}` });
      return 'args' in problem ? call(...problem.args) : problem.refuse;
    };
  }
  Object.defineProperty(api, '_tracker', { value: tracker, enumerable: false });
  return api;
}
