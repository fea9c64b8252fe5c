// The collector's admin API, same origin. The admin key travels as `Authorization: Bearer`.

const KEY_STORAGE = 'waymark.dashboard.adminKey';

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message || code || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status; // 0 when the collector could not be reached
    this.code = code || '';
    this.body = body;
  }
  /** The route does not exist on this collector (an endpoint that has not landed yet). */
  get notAvailable() {
    return this.status === 404 || this.status === 405 || this.status === 501;
  }
  get unauthorized() {
    return this.status === 401;
  }
}

let adminKey = '';
const unauthorizedListeners = new Set();

/** Reads `#key=...` from the address bar (then removes it), else sessionStorage. */
export function loadKey() {
  const hash = window.location.hash.replace(/^#/, '');
  if (hash) {
    const params = new URLSearchParams(hash);
    const fromHash = params.get('key');
    if (fromHash) {
      setKey(fromHash);
      params.delete('key');
      const rest = params.toString();
      // The key must not stay in the address bar, the history or a bookmark.
      window.history.replaceState(null, '', window.location.pathname + window.location.search + (rest ? `#${rest}` : ''));
      return adminKey;
    }
  }
  try {
    adminKey = window.sessionStorage.getItem(KEY_STORAGE) || '';
  } catch {
    adminKey = '';
  }
  return adminKey;
}

export function setKey(key) {
  adminKey = String(key || '').trim();
  try {
    if (adminKey) window.sessionStorage.setItem(KEY_STORAGE, adminKey);
    else window.sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    /* storage disabled: the key lives in memory for this page */
  }
}

export function hasKey() {
  return adminKey !== '';
}

export function onUnauthorized(fn) {
  unauthorizedListeners.add(fn);
}

async function request(method, path, { body, signal, auth = true, contentType = 'application/json' } = {}) {
  const headers = { Accept: 'application/json' };
  if (auth && adminKey) headers.Authorization = `Bearer ${adminKey}`;
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = contentType;
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload, signal, cache: 'no-store' });
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'unreachable', 'The collector cannot be reached.');
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = data && data.error ? data.error : {};
    const apiError = new ApiError(res.status, err.code, err.message || `HTTP ${res.status}`, data);
    if (res.status === 401 && auth) for (const fn of unauthorizedListeners) fn(apiError);
    throw apiError;
  }
  return data;
}

export const api = {
  get: (path, opts) => request('GET', path, opts),
  post: (path, body, opts) => request('POST', path, { ...opts, body }),
  put: (path, body, opts) => request('PUT', path, { ...opts, body }),

  overview: () => api.get('/v1/stats/overview'),
  funnel: () => api.get('/v1/stats/funnel'),
  transitions: () => api.get('/v1/stats/transitions'),
  timeInStage: () => api.get('/v1/stats/time-in-stage'),
  attribution: (stage) => api.get(`/v1/stats/attribution${stage ? `?stage=${encodeURIComponent(stage)}` : ''}`),
  contentGaps: () => api.get('/v1/stats/content-gaps'),
  webhooks: () => api.get('/v1/stats/webhooks'),
  paths: (limit = 20) => api.get(`/v1/stats/paths?limit=${limit}`),
  recentEvents: (after, limit = 50) => {
    const q = new URLSearchParams();
    if (after !== undefined && after !== null) q.set('after', String(after));
    q.set('limit', String(limit));
    return api.get(`/v1/events/recent?${q}`);
  },
  profile: (id) => api.get(`/v1/profiles/${encodeURIComponent(id)}`),
  // With the admin key: the map of the key's project (without a key the collector answers project
  // "default"'s).
  map: () => request('GET', '/v1/map'),
  mapText: async () => {
    const headers = adminKey ? { Authorization: `Bearer ${adminKey}` } : {};
    const res = await fetch('/v1/map', { headers, cache: 'no-store' });
    if (!res.ok) throw new ApiError(res.status, 'map', `GET /v1/map answered ${res.status}`);
    return res.text();
  },
  mapVersions: () => api.get('/v1/map/versions'),
  mapVersionText: async (n) => {
    const headers = { Authorization: `Bearer ${adminKey}` };
    const res = await fetch(`/v1/map/versions/${encodeURIComponent(n)}`, { headers, cache: 'no-store' });
    const text = await res.text();
    if (!res.ok) {
      let err = {};
      try {
        err = JSON.parse(text).error || {};
      } catch {
        /* not JSON */
      }
      throw new ApiError(res.status, err.code, err.message || `HTTP ${res.status}`);
    }
    return text;
  },
  /** Body is the draft's text, sent as is (so the core reports its own syntax errors). */
  previewMap: (text) => api.post('/v1/map/preview', String(text)),
  publishMap: (text) => api.put('/v1/map', String(text)),
};
