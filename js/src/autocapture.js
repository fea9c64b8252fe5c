// Automatic touchpoints: page views (on load and on SPA navigation), clicks and form submits on
// elements the site marked, and outbound links (opt-in).
//
//   <button data-waymark-event="demo_requested" data-waymark-prop-plan="pro">Book a demo</button>
//   <form data-waymark-event="lead_submitted">...</form>   (field values are never read)
export const EVENT_ATTR = 'data-waymark-event';
const PROP_PREFIX = 'data-waymark-prop-';

/** Properties from an element's data-waymark-prop-* attributes (plan="pro" -> {plan: 'pro'}). */
function markedProperties(el) {
  const props = {};
  for (const attr of el.attributes || []) {
    if (attr.name.startsWith(PROP_PREFIX)) props[attr.name.slice(PROP_PREFIX.length).replace(/-/g, '_')] = attr.value;
  }
  return props;
}

function closestMarked(target) {
  return target && target.closest ? target.closest(`[${EVENT_ATTR}]`) : null;
}

/**
 * Installs the listeners. `tracker` needs page(props, {landing}), track(name, props).
 * Returns a function that removes everything it installed.
 */
export function installAutocapture(win, tracker, options) {
  const undo = [];
  const listen = (target, type, fn, opts) => {
    target.addEventListener(type, fn, opts);
    undo.push(() => target.removeEventListener(type, fn, opts));
  };
  const doc = win.document;

  if (options.pageViews !== false) {
    let lastPath = null;
    const onNavigate = (landing) => {
      const path = win.location.pathname + win.location.search;
      if (path === lastPath) return; // replaceState with the same URL, a hash change, a double push
      lastPath = path;
      tracker.page({}, { landing });
    };
    // initialPageView: false when the landing view was already tracked (the tracker queues it
    // when init() is called, ahead of the page's own calls).
    if (options.initialPageView === false) lastPath = win.location.pathname + win.location.search;
    else onNavigate(true);
    // SPA navigation: wrap the history methods (keeping any wrapper another library installed).
    for (const method of ['pushState', 'replaceState']) {
      const original = win.history[method];
      if (typeof original !== 'function') continue;
      const wrapped = function (...args) {
        const result = original.apply(this, args);
        try {
          onNavigate(false);
        } catch {
          // never break the site's router
        }
        return result;
      };
      win.history[method] = wrapped;
      undo.push(() => {
        if (win.history[method] === wrapped) win.history[method] = original;
      });
    }
    listen(win, 'popstate', () => onNavigate(false));
  }

  if (options.clicks !== false) {
    listen(doc, 'click', (e) => {
      const el = closestMarked(e.target);
      if (el && el.tagName !== 'FORM') tracker.track(el.getAttribute(EVENT_ATTR), markedProperties(el));
    }, true);
  }
  if (options.forms !== false) {
    listen(doc, 'submit', (e) => {
      const form = e.target;
      if (form && form.getAttribute && form.hasAttribute(EVENT_ATTR)) {
        tracker.track(form.getAttribute(EVENT_ATTR), markedProperties(form));
      }
    }, true);
  }
  if (options.outboundLinks === true) {
    listen(doc, 'click', (e) => {
      const a = e.target && e.target.closest ? e.target.closest('a[href]') : null;
      if (!a || closestMarked(a)) return;
      let url;
      try {
        url = new URL(a.href, win.location.href);
      } catch {
        return;
      }
      if (/^https?:$/.test(url.protocol) && url.host !== win.location.host) {
        tracker.track('outbound_link_clicked', { url: url.origin + url.pathname, host: url.host });
      }
    }, true);
  }
  return () => undo.splice(0).forEach((fn) => fn());
}
