// Applies the engine's content decisions to the page with safe DOM operations only.
//
// Markup (written by the site):
//   <h1 data-waymark-slot="hero">Default headline</h1>          text/attrs/hidden from the map
//   <div data-waymark-slot="banner">                            or one child per variant:
//     <p data-waymark-variant="banner_winback">...</p>           shown when that variant is chosen,
//     <p data-waymark-variant="default">...</p>                  this one when no child matches
//   </div>
//
// Safety: text is set with textContent (never parsed as HTML); attributes come from an allowlist
// and URLs must be http(s) or site-relative; the core refuses maps that break these rules and this
// file checks again, so a compromised map source still cannot inject script.
const ALLOWED_ATTRS = new Set(['href', 'src', 'alt', 'title', 'aria-label', 'placeholder', 'class', 'value']);
const URL_ATTRS = new Set(['href', 'src']);
const MAX_TEXT = 4096;
const MAX_ATTR = 2048;

export const SLOT_ATTR = 'data-waymark-slot';
export const VARIANT_ATTR = 'data-waymark-variant';
const APPLIED_ATTR = 'data-waymark-applied';
// What each element shows now (variant and content), so a decision is applied once, and again
// only when it changes (a new map can give the same variant id other content).
const appliedKey = new WeakMap();

/** True for http(s) URLs and site-relative ones (`/x`, `?q`, `#h`), never `//host` or `javascript:`. */
export function isSafeUrl(value) {
  if (typeof value !== 'string') return false;
  const v = value.trim();
  if (v === '') return true;
  if (/^https?:\/\//i.test(v)) return true;
  return /^[/?#]/.test(v) && !v.startsWith('//') && !/[\u0000-\u001f\\]/.test(v.slice(0, 2));
}

function applyContent(el, content) {
  if (typeof content.text === 'string') el.textContent = content.text.slice(0, MAX_TEXT);
  const attrs = content.attrs || {};
  for (const name of Object.keys(attrs)) {
    const value = attrs[name];
    if (!ALLOWED_ATTRS.has(name) || typeof value !== 'string' || value.length > MAX_ATTR) continue;
    if (URL_ATTRS.has(name) && !isSafeUrl(value)) continue;
    el.setAttribute(name, value);
  }
  el.hidden = content.hidden === true;
}

function applyToSlot(el, decision) {
  const children = el.querySelectorAll(`[${VARIANT_ATTR}]`);
  if (children.length > 0) {
    // Variant markup written by the site: show the chosen variant's element (or "default").
    let match = null;
    for (const child of children) if (child.getAttribute(VARIANT_ATTR) === decision.variant) match = child;
    if (!match) for (const child of children) if (child.getAttribute(VARIANT_ATTR) === 'default') match = child;
    for (const child of children) child.hidden = child !== match;
    el.hidden = decision.content && decision.content.hidden === true;
  } else if (decision.content) {
    applyContent(el, decision.content);
  }
  el.setAttribute(APPLIED_ATTR, decision.variant);
}

/**
 * Applies decisions to every slot element under `root`. Returns the decisions that were applied
 * to at least one element this time (for the `content_shown` record), skipping elements that
 * already show that variant.
 */
export function applyDecisions(root, decisions) {
  const shown = [];
  if (!root || !root.querySelectorAll || !Array.isArray(decisions)) return shown;
  const bySlot = new Map(decisions.map((d) => [d.slot, d]));
  for (const el of root.querySelectorAll(`[${SLOT_ATTR}]`)) {
    const decision = bySlot.get(el.getAttribute(SLOT_ATTR));
    if (!decision) continue;
    const key = `${decision.variant}\u0000${JSON.stringify(decision.content || null)}`;
    if (appliedKey.get(el) === key) continue;
    appliedKey.set(el, key);
    applyToSlot(el, decision);
    if (!shown.includes(decision)) shown.push(decision);
  }
  return shown;
}

/**
 * Applies `decisions` to slot elements as the parser creates them, until the document has loaded.
 * MutationObserver callbacks run as microtasks, before the browser's next rendering step, so a
 * returning visitor's content is in place for the first paint with nothing hidden meanwhile.
 * Returns a function that stops observing.
 */
export function applyWhileParsing(doc, getDecisions, onApplied) {
  const MO = doc && doc.defaultView && doc.defaultView.MutationObserver;
  const run = () => {
    const decisions = getDecisions();
    if (decisions) {
      const shown = applyDecisions(doc, decisions);
      if (shown.length && onApplied) onApplied(shown);
    }
  };
  run();
  if (!MO || doc.readyState === 'complete') return () => {};
  const observer = new MO(run);
  observer.observe(doc.documentElement, { childList: true, subtree: true });
  const stop = () => {
    observer.disconnect();
    doc.removeEventListener('DOMContentLoaded', onReady);
  };
  const onReady = () => {
    run();
    stop();
  };
  doc.addEventListener('DOMContentLoaded', onReady);
  return stop;
}
