// Listeners for on()/off(). A throwing listener is the site's bug: it is reported through the
// 'error' listeners (never rethrown into the SDK's own code path or the page).
export class Emitter {
  constructor() {
    this._handlers = new Map();
  }

  on(type, handler) {
    if (typeof handler !== 'function') return false;
    if (!this._handlers.has(type)) this._handlers.set(type, new Set());
    this._handlers.get(type).add(handler);
    return true;
  }

  off(type, handler) {
    const set = this._handlers.get(type);
    if (!set) return;
    if (handler) set.delete(handler);
    else set.clear();
  }

  emit(type, payload) {
    const set = this._handlers.get(type);
    if (!set) return 0;
    for (const handler of [...set]) {
      try {
        handler(payload);
      } catch (err) {
        if (type !== 'error') this.emit('error', { code: 'listener_failed', message: `a '${type}' listener threw: ${err && err.message}` });
      }
    }
    return set.size;
  }
}
