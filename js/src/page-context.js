// What an event records about where it happened: URL, path, title, referrer and the campaign
// parameters of the landing URL. The channel itself is classified by the core engine (the same
// code as the collector's), not here.
import { redactString } from './redact.js';

// utm_* and the ad platforms' click ids, as the core's channel table knows them.
const CAMPAIGN_KEYS = [
  'utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content', 'utm_id',
  'gclid', 'gbraid', 'wbraid', 'dclid', 'msclkid', 'fbclid', 'ttclid', 'twclid', 'li_fat_id',
  'epik', 'rdt_cid', 'sccid', 'yclid', 'irclid',
];

/** Campaign parameters present in a URL's query string ({} when none). */
export function campaignFrom(url) {
  const out = {};
  let params;
  try {
    params = new URL(url).searchParams;
  } catch {
    return out;
  }
  for (const key of CAMPAIGN_KEYS) {
    const value = params.get(key);
    if (value) out[key] = redactString(value).slice(0, 256);
  }
  return out;
}

// The URL, path and title of the last page seen, redacted: recomputed only when they change.
let cachedFor = null;
let cachedBase = null;

/** The context of an event on the current page; `landing` adds the referrer and campaign. */
export function pageContext(win, landing) {
  const href = win && win.location ? win.location.href : '';
  const title = win && win.document ? win.document.title : '';
  if (!landing && cachedFor !== null && cachedFor === href + '\u0000' + title) return { ...cachedBase };
  const context = pageContextNow(win, landing);
  if (!landing) {
    cachedFor = href + '\u0000' + title;
    cachedBase = { ...context };
  }
  return context;
}

function pageContextNow(win, landing) {
  const context = {};
  const loc = win && win.location;
  if (loc && /^https?:$/.test(loc.protocol)) {
    context.url = redactString(loc.href).slice(0, 2048);
    context.path = redactString(loc.pathname).slice(0, 2048);
  }
  const doc = win && win.document;
  if (doc && doc.title) context.title = redactString(doc.title).slice(0, 512);
  if (landing) {
    if (doc && doc.referrer) context.referrer = redactString(doc.referrer).slice(0, 2048);
    const campaign = context.url ? campaignFrom(context.url) : {};
    if (Object.keys(campaign).length) context.campaign = campaign;
  }
  return context;
}
