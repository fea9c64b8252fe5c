// Consent and privacy signals. Three consent states: 'granted' (track, store, send), 'pending'
// (track locally, hold events in memory until the site decides) and 'denied' (local-only: the
// stage and personalization still work, nothing lasting is stored and nothing is sent).
export const CONSENT_STATES = ['granted', 'pending', 'denied'];

/** Why the browser itself opts out, or null: Global Privacy Control (on by default), DNT (opt-in). */
export function browserOptOut(nav, options) {
  if (!nav) return null;
  if (options.respectGlobalPrivacyControl !== false && nav.globalPrivacyControl === true) {
    return 'global_privacy_control';
  }
  if (options.respectDoNotTrack === true) {
    const dnt = nav.doNotTrack || (globalThis.window && globalThis.window.doNotTrack) || nav.msDoNotTrack;
    if (dnt === '1' || dnt === 'yes') return 'do_not_track';
  }
  return null;
}

/** True when the page is driven by automation: WebDriver, or a headless browser's user agent. */
export function isAutomated(nav) {
  if (!nav) return false;
  if (nav.webdriver === true) return true;
  return /HeadlessChrome|PhantomJS|Headless|Electron\/.*HeadlessBrowser|bot\b|crawler|spider/i.test(nav.userAgent || '');
}
