// The dashboard's address: what a shared link reproduces (period, comparison, breakdown or
// filter, project, the step funnel), as query parameters beside the #section. Never the key.

/** Sets (or, for null and '', removes) query parameters in place, without a new history entry. */
export function setParams(changes) {
  const q = new URLSearchParams(window.location.search);
  for (const [key, value] of Object.entries(changes)) {
    if (value === null || value === undefined || value === '') q.delete(key);
    else q.set(key, String(value));
  }
  const search = q.toString();
  window.history.replaceState(null, '', `${window.location.pathname}${search ? `?${search}` : ''}${window.location.hash}`);
}
