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

// The admin keys of the projects opened in this tab, by project id (the overview names the
// key's project), so that the project picker switches without asking again.
const PROJECTS_STORAGE = 'waymark.dashboard.projectKeys';

function readProjects() {
  try {
    const parsed = JSON.parse(window.sessionStorage.getItem(PROJECTS_STORAGE) || '{}');
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

/** Remembers `key` as the admin key of `project`. */
export function rememberProject(project, key) {
  const all = { ...readProjects(), [project]: key };
  memoryProjects = all;
  try {
    window.sessionStorage.setItem(PROJECTS_STORAGE, JSON.stringify(all));
  } catch {
    /* storage disabled: kept in memory for this page */
  }
}

/** Forgets a project's key (it was refused, or the user asked). */
export function forgetProject(project) {
  const all = { ...readProjects(), ...memoryProjects };
  delete all[project];
  memoryProjects = all;
  try {
    window.sessionStorage.setItem(PROJECTS_STORAGE, JSON.stringify(all));
  } catch {
    /* storage disabled */
  }
}

let memoryProjects = {};
/** Project ids with a remembered key, sorted. */
export function knownProjects() {
  return Object.keys({ ...memoryProjects, ...readProjects() }).sort();
}
export function keyOfProject(project) {
  return readProjects()[project] || memoryProjects[project] || '';
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

/** The ApiError of a failed answer whose text was read (its JSON error, when it has one). */
function errorOf(res, text) {
  let err = {};
  try {
    err = JSON.parse(text).error || {};
  } catch {
    /* not JSON */
  }
  return new ApiError(res.status, err.code, err.message || `HTTP ${res.status}`);
}

function statsPath(report, period, extra = {}) {
  const q = new URLSearchParams(extra);
  if (period && period.from) q.set('from', period.from);
  if (period && period.to) q.set('to', period.to);
  const query = q.toString();
  return `/v1/stats/${report}${query ? `?${query}` : ''}`;
}

export const api = {
  get: (path, opts) => request('GET', path, opts),
  post: (path, body, opts) => request('POST', path, { ...opts, body }),
  put: (path, body, opts) => request('PUT', path, { ...opts, body }),

  // Reports take a period ({ from, to }, range.js); without one the collector's default (the
  // last 30 days).
  overview: (period) => api.get(statsPath('overview', period)),
  // `segment`: { breakdown } or { filter } (segment.js), on the funnel, paths, attribution and
  // content gaps.
  funnel: (period, segment = {}) => api.get(statsPath('funnel', period, segment)),
  transitions: (period) => api.get(statsPath('transitions', period)),
  timeInStage: (period) => api.get(statsPath('time-in-stage', period)),
  attribution: (stage, period, by = 'channel', segment = {}) =>
    api.get(statsPath('attribution', period, { ...(stage ? { stage } : {}), ...(by !== 'channel' ? { by } : {}), ...segment })),
  contentGaps: (period, segment = {}) => api.get(statsPath('content-gaps', period, segment)),
  webhooks: (period) => api.get(statsPath('webhooks', period)),
  paths: (limit = 20, period, segment = {}) => api.get(statsPath('paths', period, { limit: String(limit), ...segment })),
  /** A report's table as CSV (format=csv): { text, filename } for a download. */
  csv: async (report, period, extra = {}) => {
    const headers = { Accept: 'text/csv', Authorization: `Bearer ${adminKey}` };
    let res;
    try {
      res = await fetch(statsPath(report, period, { ...extra, format: 'csv' }), { headers, cache: 'no-store' });
    } catch {
      throw new ApiError(0, 'unreachable', 'The collector cannot be reached.');
    }
    const text = await res.text();
    if (!res.ok) throw errorOf(res, text);
    const disposition = res.headers.get('Content-Disposition') || '';
    const named = disposition.match(/filename="([^"]+)"/);
    return { text, filename: named ? named[1] : `waymark-${report}.csv` };
  },
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
    if (!res.ok) throw errorOf(res, text);
    return text;
  },
  /** Body is the draft's text, sent as is (so the core reports its own syntax errors). */
  previewMap: (text) => api.post('/v1/map/preview', String(text)),
  publishMap: (text) => api.put('/v1/map', String(text)),
};
