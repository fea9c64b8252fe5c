// Opt-in bridge from Google Tag Manager's window.dataLayer: pushes with an `event` the journey map
// knows (a registered name or one of its aliases, e.g. GA4's generate_lead) become touchpoints.
// GTM's own lifecycle events (gtm.js, gtm.dom, ...) and unknown names are ignored.
export function installDataLayerBridge(win, tracker, knownNames, arrayName = 'dataLayer') {
  const layer = (win[arrayName] = win[arrayName] || []);
  if (!Array.isArray(layer)) return () => {};
  const handle = (entry) => {
    if (!entry || typeof entry !== 'object' || Array.isArray(entry)) return;
    const name = entry.event;
    if (typeof name !== 'string' || name.startsWith('gtm.') || !knownNames.has(name)) return;
    const props = {};
    for (const key of Object.keys(entry)) {
      if (key !== 'event' && !key.startsWith('gtm.') && key !== 'eventCallback' && key !== 'eventTimeout') props[key] = entry[key];
    }
    tracker.track(name, props);
  };
  layer.forEach(handle); // pushes made before the SDK loaded
  const original = layer.push;
  layer.push = function (...entries) {
    const result = original.apply(this, entries);
    for (const entry of entries) {
      try {
        handle(entry);
      } catch {
        // the site's tag manager must keep working
      }
    }
    return result;
  };
  return () => {
    if (layer.push !== original) layer.push = original;
  };
}

