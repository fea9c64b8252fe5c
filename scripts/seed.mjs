#!/usr/bin/env node
// Fills a collector with a few hundred simulated visitors of the Beacon demo site, through the
// collector's real API (POST /v1/batch with the site key in X-Waymark-Key), so the dashboard and
// the stats have something to show.
//
//   node scripts/seed.mjs --collector http://127.0.0.1:8787 --site-key K [--visitors 300] [--seed 42]
//                         [--now 2026-11-29T12:00:00Z] [--dry-run]
//
// What the visitors do follows the default journey map (core/maps/default.json) and the demo
// site's pages (demo/site): they arrive from e-mail campaigns, paid search (gclid), organic
// search, social networks (fbclid), direct visits and referrals; most leave as aware or engaged,
// some leave a lead, fewer start a trial, some buy, a few are retained, invite friends or cancel;
// some go quiet for more than 30 days (the map's `go_dormant`) and come back (`reactivate`).
// Visitors who sign up are identified (user_identified with a user id), and a few customers come
// back on a second device and log in there (a merge at the collector). Every page view also
// records the content the site showed (content_shown with slot, variant and stage), except on the
// pages seen in `qualified` and `retained`, which this simulated site has no slots for, so the
// content-gap report has targeted stages with nothing shown.
//
// Times are spread over the last 30 days (dormant-and-back visitors start up to 75 days ago), so
// timed transitions and time in stage look real. Everything is deterministic for a given --seed
// and --now (default: the start of the current hour), so running it twice within the hour sends
// the same events and the collector answers `duplicate` for all of them.
//
// Exits 1 when the collector rejected any event or a batch failed, 2 on bad arguments.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { MAX_BATCH_EVENTS } from '../js/src/limits.js';

const MINUTE = 60 * 1000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const SITE = 'https://www.beacon.example';
const MAX_BATCH_BYTES = 400 * 1024; // under its 512 KB body limit

// ---- deterministic randomness -------------------------------------------------------------

/** mulberry32: a small, fast PRNG with a 32-bit state; good enough for simulated traffic. */
function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const r = {
    next,
    chance: (p) => next() < p,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    between: (lo, hi) => lo + next() * (hi - lo),
    pick: (list) => list[Math.floor(next() * list.length)],
    /** Picks a key of {key: weight}. */
    weighted: (weights) => {
      const entries = Object.entries(weights);
      let x = next() * entries.reduce((s, [, w]) => s + w, 0);
      for (const [k, w] of entries) {
        x -= w;
        if (x < 0) return k;
      }
      return entries[entries.length - 1][0];
    },
    hex: (n) => {
      let s = '';
      for (let i = 0; i < n; i++) s += Math.floor(next() * 16).toString(16);
      return s;
    },
  };
  return r;
}

/** A UUIDv7-shaped id: the event time in the first 48 bits, then version, variant and randomness. */
function uuidv7(time, rng) {
  const t = Math.max(0, Math.floor(time)).toString(16).padStart(12, '0').slice(-12);
  const variant = (8 + Math.floor(rng.next() * 4)).toString(16);
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${rng.hex(3)}-${variant}${rng.hex(3)}-${rng.hex(12)}`;
}

/** A random UUIDv4-shaped id (anonymous ids). */
function uuidv4(rng) {
  const variant = (8 + Math.floor(rng.next() * 4)).toString(16);
  return `${rng.hex(8)}-${rng.hex(4)}-4${rng.hex(3)}-${variant}${rng.hex(3)}-${rng.hex(12)}`;
}

// ---- the demo site: pages, their slots and the events a page view implies ----------------------

const PAGES = {
  '/': { title: 'Beacon: product analytics your whole team can read', slots: ['hero', 'cta', 'banner'] },
  '/features.html': { title: 'Features: funnels, retention and journeys | Beacon', slots: ['hero', 'cta', 'banner'] },
  '/pricing.html': { title: 'Pricing | Beacon', slots: ['hero', 'cta', 'banner'] },
  '/blog/': { title: 'Blog | Beacon', slots: ['cta', 'banner'] },
  '/blog/journey-mapping-guide.html': { title: 'A practical guide to mapping your customer journey | Beacon blog', slots: ['hero', 'cta', 'banner'] },
  '/lead.html': { title: 'Get the journey-mapping workbook, or talk to sales | Beacon', slots: ['hero', 'cta', 'banner'] },
  '/signup.html': { title: 'Start your free trial | Beacon', slots: ['cta', 'banner'] },
  '/app.html': { title: 'Home | Beacon workspace', slots: ['hero', 'cta', 'banner'] },
  '/upgrade.html': { title: 'Upgrade your plan | Beacon', slots: ['hero', 'cta', 'banner'] },
  '/account.html': { title: 'Account and billing | Beacon workspace', slots: ['hero', 'cta', 'banner'] },
};

// Stages this simulated site shows no slot content in (see the header comment).
const NO_CONTENT_STAGES = new Set(['qualified', 'retained']);

/** The default map's content decisions for a stage and score (core/maps/default.json, `content`). */
function decide(slot, stage, score) {
  const after = ['customer', 'retained', 'advocate'].includes(stage);
  if (slot === 'hero') {
    if (after) return ['hero_customer', false];
    if (stage === 'trial') return ['hero_trial', false];
    if (stage === 'lead' || stage === 'qualified') return ['hero_lead', false];
    if (stage === 'engaged') return ['hero_engaged', false];
    return ['hero_default', true];
  }
  if (slot === 'cta') {
    if (stage === 'trial') return ['cta_upgrade', false];
    if (after) return ['cta_invite', false];
    if (stage === 'lead' || stage === 'qualified') return ['cta_trial', false];
    if (stage === 'engaged') return ['cta_guide', false];
    return ['cta_pricing', true];
  }
  if (stage === 'dormant') return ['banner_welcome_back', false];
  if (stage === 'churned') return ['banner_win_back', false];
  if ((stage === 'awareness' || stage === 'engaged') && score >= 30) return ['banner_talk', false];
  return ['banner_none', true];
}

// ---- channels ---------------------------------------------------------------------------------

const FIRST_CHANNELS = { email: 18, paid_search: 16, organic_search: 24, social: 12, direct: 18, referral: 12 };
const RETURN_CHANNELS = { direct: 50, email: 25, organic_search: 15, paid_search: 10 };

/** Where a landing comes from: {campaign, referrer, pages it tends to land on, email?}. */
function arrival(channel, rng) {
  switch (channel) {
    case 'email': {
      const campaign = rng.weighted({ guide: 5, product_update: 3, webinar: 2 });
      const landing = campaign === 'guide' ? '/blog/journey-mapping-guide.html' : campaign === 'webinar' ? '/features.html' : '/';
      return { campaign: { utm_source: 'newsletter', utm_medium: 'email', utm_campaign: campaign }, referrer: '', landings: [landing], email: true };
    }
    case 'paid_search': {
      const campaign = { gclid: `Cj0KCQiA${rng.hex(24)}` };
      if (rng.chance(0.6)) Object.assign(campaign, { utm_source: 'google', utm_medium: 'cpc', utm_campaign: rng.pick(['brand', 'analytics_generic', 'competitor']), utm_term: rng.pick(['product analytics', 'funnel analysis tool', 'beacon analytics']) });
      return { campaign, referrer: 'https://www.google.com/', landings: ['/', '/pricing.html', '/'] };
    }
    case 'organic_search':
      return { campaign: {}, referrer: rng.pick(['https://www.google.com/', 'https://www.google.com/', 'https://www.bing.com/', 'https://duckduckgo.com/']), landings: ['/blog/journey-mapping-guide.html', '/', '/features.html'] };
    case 'social': {
      const network = rng.pick(['linkedin', 'twitter', 'facebook']);
      if (network === 'facebook') return { campaign: { fbclid: `IwAR${rng.hex(28)}` }, referrer: 'https://l.facebook.com/', landings: ['/blog/journey-mapping-guide.html', '/'] };
      return { campaign: {}, referrer: network === 'linkedin' ? 'https://www.linkedin.com/' : 'https://t.co/', landings: ['/blog/journey-mapping-guide.html', '/'] };
    }
    case 'referral':
      return { campaign: {}, referrer: rng.pick(['https://news.ycombinator.com/', 'https://www.producthunt.com/posts/beacon', 'https://blog.partner.example/our-analytics-stack']), landings: ['/', '/features.html'] };
    default:
      return { campaign: {}, referrer: '', landings: ['/'] };
  }
}

// ---- one visitor's journey, kept in step with the default map -----------------------------------

const SCORE_HALF_LIFE = 30 * DAY;
const SCORE_RULES = {
  page_viewed: ['page_view', 1, 'engagement'],
  feature_viewed: ['feature_interest', 3, 'engagement'],
  content_read: ['content_depth', 5, 'engagement'],
  video_played: ['content_depth', 5, 'engagement'],
  pricing_viewed: ['pricing_interest', 10, 'intent'],
  newsletter_subscribed: ['newsletter', 10, 'intent', true],
  lead_submitted: ['lead_form', 20, 'intent', true],
  demo_requested: ['demo', 30, 'intent', true],
};
const GROUP_CAPS = { engagement: 40, intent: 60 };
const PRE = ['awareness', 'engaged', 'lead', 'qualified', 'trial'];
const AFTER = ['customer', 'retained', 'advocate'];

class Visitor {
  constructor(rng, anonymousId) {
    this.rng = rng;
    this.anonymousId = anonymousId;
    this.userId = null;
    this.seq = 0;
    this.stage = 'awareness';
    this.previous = null;
    this.last = null; // time of the last event
    this.points = []; // [time, points, group]
    this.once = new Set();
    this.pageViews = [];
    this.featureUses = [];
    this.events = [];
    this.t = 0; // the clock, relative until shift()
    this.stagesSeen = new Set(['awareness']);
    this.dormantSpells = 0;
  }

  score(at) {
    const groups = {};
    for (const [time, points, group] of this.points) {
      groups[group] = (groups[group] || 0) + points * Math.pow(0.5, (at - time) / SCORE_HALF_LIFE);
    }
    let total = 0;
    for (const [group, value] of Object.entries(groups)) total += Math.min(value, GROUP_CAPS[group] || Infinity);
    return Math.min(total, 100);
  }

  moveTo(stage) {
    if (stage === this.stage) return;
    this.previous = this.stage;
    this.stage = stage;
    this.stagesSeen.add(stage);
  }

  // Timed transitions fall due before the next event is processed (go_dormant 30 d, lapse 90 d).
  advance(at) {
    if (this.last === null) return;
    if (['engaged', 'lead', 'qualified', 'trial'].includes(this.stage) && at - this.last >= 30 * DAY) {
      this.moveTo('dormant');
      this.dormantSpells++;
    } else if (AFTER.includes(this.stage) && at - this.last >= 90 * DAY) {
      this.moveTo('churned');
    }
  }

  // The default map's transitions, tried by priority.
  apply(name, context) {
    const s = this.stage;
    const t = this.t;
    const is = (...names) => names.includes(name);
    if (AFTER.includes(s) && is('subscription_cancelled')) return this.moveTo('churned');
    if ([...PRE, 'dormant'].includes(s) && is('order_completed')) return this.moveTo('customer');
    if (['awareness', 'engaged', 'lead', 'qualified', 'dormant'].includes(s) && is('trial_started', 'signed_up')) return this.moveTo('trial');
    if (['awareness', 'engaged', 'lead'].includes(s) && is('demo_requested')) return this.moveTo('qualified');
    if (['retained', 'advocate'].includes(s) && is('plan_upgraded')) return this.moveTo('customer');
    if (['awareness', 'engaged'].includes(s) && is('lead_submitted', 'newsletter_subscribed')) return this.moveTo('lead');
    if (s === 'lead' && (is('lead_qualified') || this.score(t) >= 50)) return this.moveTo('qualified');
    if (['customer', 'retained'].includes(s) && is('friend_invited', 'review_submitted')) return this.moveTo('advocate');
    if (s === 'awareness' && (is('pricing_viewed', 'feature_viewed', 'content_read', 'video_played') || this.pageViews.filter((p) => p > t - DAY).length >= 3)) {
      return this.moveTo('engaged');
    }
    if (s === 'customer' && (is('subscription_renewed') || this.featureUses.filter((f) => f > t - 14 * DAY).length >= 5)) return this.moveTo('retained');
    if (s === 'churned' && is('order_completed', 'plan_upgraded', 'subscription_renewed')) return this.moveTo('customer');
    if (s === 'dormant') return this.moveTo(this.previous || 'awareness');
    void context;
    return undefined;
  }

  /** Records one event at the current clock. */
  emit(name, properties = {}, context = {}, type = 'track') {
    this.advance(this.t);
    const event = {
      seq: ++this.seq,
      anonymous_id: this.anonymousId,
      name,
      type,
      time: Math.round(this.t),
      properties,
      context,
    };
    if (this.userId) event.user_id = this.userId;
    this.events.push(event);
    if (name === 'page_viewed') this.pageViews.push(this.t);
    if (name === 'feature_used') this.featureUses.push(this.t);
    const rule = SCORE_RULES[name];
    if (rule && !(rule[3] && this.once.has(rule[0]))) {
      this.points.push([this.t, rule[1], rule[2]]);
      if (rule[3]) this.once.add(rule[0]);
    }
    if (name === 'page_viewed' && context.campaign && context.campaign.utm_medium === 'email') this.points.push([this.t, 5, 'engagement']);
    this.apply(name, context);
    this.last = this.t;
    this.t += this.rng.between(400, 2500); // the next thing happens a moment later at the earliest
    return event;
  }

  wait(ms) {
    this.t += ms;
  }

  /** A page view: the landing (with referrer and campaign) or an internal one; then what the page records. */
  view(path, { landing = null, showContent = true } = {}) {
    const page = PAGES[path] || { title: 'Beacon', slots: [] };
    let url = SITE + path;
    const context = { url, path: path.split('?')[0], title: page.title };
    if (landing) {
      const query = new URLSearchParams(landing.campaign).toString();
      if (query) context.url = url = `${url}?${query}`;
      if (landing.referrer) context.referrer = landing.referrer;
      if (Object.keys(landing.campaign).length) context.campaign = { ...landing.campaign };
    }
    this.advance(this.t);
    const stageBefore = this.stage; // a returning dormant visitor sees the dormant content first
    const event = this.emit('page_viewed', {}, context, 'page');
    // What the site showed, as the SDK reports it (the stage the browser decided for).
    const stage = stageBefore === 'dormant' ? 'dormant' : this.stage;
    if (showContent && !NO_CONTENT_STAGES.has(stage)) {
      for (const slot of page.slots) {
        const [variant, isDefault] = decide(slot, stage, this.score(this.t));
        this.emit('content_shown', { slot, variant, default: isDefault, stage }, { url, path: context.path, title: page.title });
      }
    }
    if (path === '/pricing.html') this.emit('pricing_viewed', { section: 'plans' }, pageContext(context));
    if (path === '/features.html') this.emit('feature_viewed', { section: 'overview' }, pageContext(context));
    if (path === '/upgrade.html') this.emit('checkout_started', { plan: this.plan || 'team', value: planPrice(this.plan), currency: 'USD' }, pageContext(context));
    this.here = pageContext(context);
    this.wait(this.rng.between(15 * 1000, 3 * MINUTE));
    return event;
  }

  act(name, properties = {}) {
    const e = this.emit(name, properties, this.here || {});
    this.wait(this.rng.between(10 * 1000, 90 * 1000));
    return e;
  }
}

function pageContext(context) {
  return { url: context.url, path: context.path, title: context.title };
}

function planPrice(plan) {
  return plan === 'business' ? 199 : 49;
}

// How deep each visitor goes (before churn/dormancy twists).
const DEPTH = { awareness: 34, engaged: 24, lead: 13, qualified: 4, trial: 10, customer: 7, retained: 3, advocate: 3, churned: 2 };
const ORDER = ['awareness', 'engaged', 'lead', 'qualified', 'trial', 'customer', 'retained', 'advocate', 'churned'];
const reaches = (depth, stage) => ORDER.indexOf(depth) >= ORDER.indexOf(stage);

/** Builds one visitor's events with relative times (the first event at 0). */
function simulate(rng, index) {
  const v = new Visitor(rng, uuidv4(rng));
  const depth = rng.weighted(DEPTH);
  // Some go quiet for more than 30 days after getting somewhere, and come back later.
  const quietAfter = depth !== 'awareness' && rng.chance(0.16) ? rng.pick(['engaged', 'lead', 'trial'].filter((s) => reaches(depth, s))) : null;
  let quietDone = false;
  const maybeGoQuiet = (stage) => {
    if (quietAfter === stage && !quietDone) {
      quietDone = true;
      v.wait(rng.between(31, 44) * DAY);
      return true;
    }
    return false;
  };
  const later = (minHours, maxHours) => v.wait(rng.between(minHours, maxHours) * HOUR);
  const returnArrival = () => arrival(rng.weighted(RETURN_CHANNELS), rng);

  // 1. First session.
  const firstChannel = rng.weighted(FIRST_CHANNELS);
  const first = arrival(firstChannel, rng);
  let landingPath = rng.pick(first.landings);
  if (depth === 'awareness' && (landingPath === '/pricing.html' || landingPath === '/features.html')) landingPath = '/';
  v.view(landingPath, { landing: first });
  if (depth === 'awareness') {
    if (rng.chance(0.45)) v.view(rng.pick(['/blog/', '/']));
    if (rng.chance(0.25)) {
      later(30, 300); // back another day; never three views within a day
      v.view('/', { landing: returnArrival() });
    }
    return { visitor: v, depth, channel: firstChannel };
  }

  // 2. Engaged: something that shows interest.
  const how = rng.weighted({ read: 4, pricing: 4, features: 3, video: 1, browse: 2 });
  if (how === 'read') {
    if (landingPath !== '/blog/journey-mapping-guide.html') v.view('/blog/journey-mapping-guide.html');
    v.wait(rng.between(2, 9) * MINUTE);
    v.act('content_read', { article: 'journey-mapping-guide' });
  } else if (how === 'pricing') {
    if (landingPath !== '/pricing.html') v.view('/pricing.html');
  } else if (how === 'features') {
    if (landingPath !== '/features.html') v.view('/features.html');
  } else if (how === 'video') {
    if (landingPath !== '/') v.view('/');
    v.act('video_played', { video: 'product_tour' });
  } else {
    v.view('/blog/');
    v.view('/');
    v.view('/features.html');
  }
  if (rng.chance(0.5)) v.view(rng.pick(['/pricing.html', '/features.html', '/blog/']));
  if (maybeGoQuiet('engaged')) v.view('/', { landing: returnArrival() });
  if (!reaches(depth, 'lead')) {
    if (rng.chance(0.3)) {
      later(24, 200);
      v.view(rng.pick(['/', '/pricing.html']), { landing: returnArrival() });
    }
    return { visitor: v, depth, channel: firstChannel };
  }

  // 3. Lead: the guide or a call with sales (some subscribe to the newsletter instead).
  if (rng.chance(0.5)) {
    later(2, 96);
    v.view(rng.pick(['/', '/blog/journey-mapping-guide.html']), { landing: returnArrival() });
  }
  if (rng.chance(0.2)) {
    if (v.here?.path !== '/blog/journey-mapping-guide.html') v.view('/blog/journey-mapping-guide.html');
    v.act('newsletter_subscribed', { source: 'article' });
  } else {
    v.view('/lead.html');
    v.act('lead_submitted', { offer: rng.chance(0.7) ? 'guide' : 'sales_call' });
  }
  if (depth === 'qualified' || (reaches(depth, 'trial') && rng.chance(0.3))) {
    // Intent builds up: pricing again (score >= 50 qualifies), or sales marks the lead qualified.
    later(12, 120);
    v.view('/pricing.html', { landing: returnArrival() });
    if (v.stage === 'lead' && rng.chance(0.5)) {
      later(1, 8);
      v.view('/pricing.html');
    }
    if (v.stage === 'lead') {
      later(4, 48);
      v.emit('lead_qualified', { source: 'crm' }, {});
    }
  }
  if (maybeGoQuiet('lead')) v.view(rng.pick(['/', '/pricing.html']), { landing: returnArrival() });
  if (!reaches(depth, 'trial')) {
    if (rng.chance(0.3)) {
      later(24, 240);
      v.view('/pricing.html', { landing: returnArrival() });
    }
    return { visitor: v, depth, channel: firstChannel };
  }

  // 4. Trial: sign up (identified from now on), start the trial, try a few features.
  later(3, 120);
  v.plan = rng.chance(0.85) ? 'team' : 'business';
  v.view('/pricing.html', { landing: returnArrival() });
  v.view('/signup.html');
  v.act('signed_up', { plan: v.plan });
  v.userId = `usr_${rng.hex(16)}`;
  v.emit('user_identified', {}, v.here, 'identify');
  v.view('/app.html');
  v.act('trial_started', { plan: v.plan });
  for (let i = rng.int(0, 3); i > 0; i--) v.act('feature_used', { feature: rng.pick(['funnel', 'data_source', 'retention', 'dashboard']) });
  if (maybeGoQuiet('trial')) {
    v.view('/app.html', { landing: returnArrival() });
  } else if (rng.chance(0.6)) {
    later(20, 100);
    v.view('/app.html', { landing: returnArrival() });
    v.act('feature_used', { feature: rng.pick(['funnel', 'retention', 'dashboard']) });
  }
  if (!reaches(depth, 'customer')) {
    if (rng.chance(0.35)) {
      later(24, 120);
      v.view('/upgrade.html', { landing: returnArrival() }); // checkout_started, then left
    }
    return { visitor: v, depth, channel: firstChannel };
  }

  // 5. Customer.
  later(24, 10 * 24);
  v.view('/app.html', { landing: returnArrival() });
  v.view('/upgrade.html');
  v.act('order_completed', { plan: v.plan, value: planPrice(v.plan), currency: 'USD', order_id: `ord_${rng.hex(12)}` });
  v.view('/account.html');

  // A second device: log in there (the collector merges it into the same user).
  let secondDevice = null;
  if (rng.chance(0.2)) {
    secondDevice = new Visitor(rng, uuidv4(rng));
    secondDevice.t = v.t + rng.between(2, 72) * HOUR;
    secondDevice.view('/', { landing: arrival('direct', rng), showContent: false });
    secondDevice.userId = v.userId;
    secondDevice.emit('user_identified', {}, secondDevice.here, 'identify');
    secondDevice.view('/app.html', { showContent: false });
    secondDevice.act('feature_used', { feature: 'dashboard' });
  }

  if (depth === 'retained' || (depth === 'advocate' && rng.chance(0.5))) {
    later(20, 60);
    if (rng.chance(0.5)) {
      for (let i = 0; i < 5; i++) {
        v.view('/app.html', { landing: i === 0 ? returnArrival() : null });
        v.act('feature_used', { feature: rng.pick(['funnel', 'retention', 'dashboard', 'alerts', 'notebook']) });
        later(6, 40);
      }
    } else {
      v.view('/account.html', { landing: returnArrival() });
      v.act('subscription_renewed', { billing: 'annual' });
    }
  }
  if (depth === 'advocate') {
    later(12, 96);
    v.view('/account.html', { landing: returnArrival() });
    v.act(rng.chance(0.7) ? 'friend_invited' : 'review_submitted', rng.chance(0.7) ? { channel: 'email' } : { site: 'g2' });
  }
  if (depth === 'churned') {
    later(48, 8 * 24);
    v.view('/account.html', { landing: returnArrival() });
    v.act('subscription_cancelled', { reason: rng.pick(['price', 'missing_feature', 'switched_tool']) });
    if (rng.chance(0.5)) {
      later(3 * 24, 9 * 24);
      v.view('/', { landing: arrival('email', rng) }); // the win-back banner
      if (rng.chance(0.5)) {
        v.view('/upgrade.html');
        v.act('order_completed', { plan: v.plan, value: planPrice(v.plan), currency: 'USD', order_id: `ord_${rng.hex(12)}` });
      }
    }
  }
  void index;
  return { visitor: v, depth, channel: firstChannel, secondDevice };
}

/** Simulates `count` visitors; returns their events with absolute times ending before `now`. */
export function simulateVisitors({ visitors = 300, seed = 42, now = Date.now() } = {}) {
  const rng = prng(seed);
  const all = [];
  const finalStages = {};
  const channels = {};
  let identified = 0;
  let dormantSpells = 0;
  for (let i = 0; i < visitors; i++) {
    const { visitor, channel, secondDevice } = simulate(rng, i);
    const devices = [visitor, secondDevice].filter(Boolean);
    const events = devices.flatMap((d) => d.events);
    const start = Math.min(...events.map((e) => e.time));
    const end = Math.max(...events.map((e) => e.time));
    const span = end - start;
    // Place the journey so that it ends in the last 30 days (longer ones start earlier).
    const window = 30 * DAY;
    const margin = 10 * MINUTE;
    const latestEnd = now - margin;
    const earliestEnd = Math.min(latestEnd, now - window + span);
    const shift = earliestEnd + rng.next() * (latestEnd - earliestEnd) - end;
    for (const e of events) {
      e.time += Math.round(shift);
      e.id = uuidv7(e.time, rng);
      all.push(e);
    }
    finalStages[visitor.stage] = (finalStages[visitor.stage] || 0) + 1;
    channels[channel] = (channels[channel] || 0) + 1;
    if (visitor.userId) identified++;
    dormantSpells += visitor.dormantSpells;
  }
  // The order the collector would receive them in: by time.
  all.sort((a, b) => a.time - b.time || (a.anonymous_id < b.anonymous_id ? -1 : a.anonymous_id > b.anonymous_id ? 1 : a.seq - b.seq));
  // Key order as the SDK writes it.
  const events = all.map((e) => {
    const out = { id: e.id, seq: e.seq, anonymous_id: e.anonymous_id };
    if (e.user_id) out.user_id = e.user_id;
    return Object.assign(out, { name: e.name, type: e.type, time: e.time, properties: e.properties, context: e.context });
  });
  return { events, finalStages, channels, identified, dormantSpells };
}

// ---- sending ------------------------------------------------------------------------------------

function batches(events) {
  const out = [];
  let current = [];
  let bytes = 0;
  for (const e of events) {
    const size = Buffer.byteLength(JSON.stringify(e)) + 1;
    if (current.length && (current.length >= MAX_BATCH_EVENTS || bytes + size > MAX_BATCH_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(e);
    bytes += size;
  }
  if (current.length) out.push(current);
  return out;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function postBatch(collectorUrl, siteKey, events, origin) {
  let lastError = null;
  for (let attempt = 0; attempt < 6; attempt++) {
    let response;
    try {
      response = await fetch(`${collectorUrl}/v1/batch`, {
        method: 'POST',
        // The simulated visitors browse the demo site: its Origin, which an origin-restricted key
        // requires (the collector refuses a request without one unless the key is server-side).
        headers: { 'Content-Type': 'application/json', 'X-Waymark-Key': siteKey, ...(origin ? { Origin: origin } : {}) },
        body: JSON.stringify({ sent_at: Date.now(), events }),
      });
    } catch (err) {
      lastError = `network: ${err.cause?.code || err.message}`;
      await sleep(250 * 2 ** attempt);
      continue;
    }
    const text = await response.text();
    if (response.status === 200) return JSON.parse(text);
    lastError = `HTTP ${response.status}: ${text.slice(0, 300)}`;
    if (![408, 429, 503].includes(response.status) && response.status < 500) break; // final
    const retryAfter = Number(response.headers.get('retry-after'));
    await sleep(Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 250 * 2 ** attempt);
  }
  throw new Error(lastError || 'the batch was not accepted');
}

/**
 * Simulates `visitors` visitors and sends their events to the collector. Resolves a summary:
 * { visitors, events, batches, accepted, duplicates, rejected, rejections, failedBatches, finalStages, channels, identified }.
 */
export async function seed({ collectorUrl, siteKey, origin, visitors = 300, seed: seedValue = 42, now, dryRun = false, log = () => {} } = {}) {
  if (!dryRun && (!collectorUrl || !siteKey)) throw new Error('seed: collectorUrl and siteKey are required');
  const anchor = now ?? Math.floor(Date.now() / HOUR) * HOUR;
  const sim = simulateVisitors({ visitors, seed: seedValue, now: anchor });
  const summary = {
    visitors,
    seed: seedValue,
    now: anchor,
    events: sim.events.length,
    batches: 0,
    accepted: 0,
    duplicates: 0,
    rejected: 0,
    rejections: {},
    failedBatches: 0,
    errors: [],
    finalStages: sim.finalStages,
    channels: sim.channels,
    identified: sim.identified,
    dormantSpells: sim.dormantSpells,
  };
  if (dryRun) return summary;
  const base = String(collectorUrl).replace(/\/+$/, '');
  for (const batch of batches(sim.events)) {
    summary.batches++;
    try {
      const answer = await postBatch(base, siteKey, batch, origin);
      summary.accepted += answer.accepted || 0;
      summary.duplicates += answer.duplicates || 0;
      summary.rejected += answer.rejected || 0;
      for (const r of answer.results || []) {
        if (r.status === 'rejected') {
          const key = r.reason || 'unknown';
          summary.rejections[key] = summary.rejections[key] || { count: 0, example: r.message || '' };
          summary.rejections[key].count++;
        }
      }
      log(`batch ${summary.batches}: ${batch.length} events, accepted ${answer.accepted}, duplicates ${answer.duplicates}, rejected ${answer.rejected}`);
    } catch (err) {
      summary.failedBatches++;
      summary.errors.push(err.message);
      log(`batch ${summary.batches}: FAILED (${err.message})`);
    }
  }
  return summary;
}

// ---- command line -------------------------------------------------------------------------------

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const value = () => (eq > 0 ? arg.slice(eq + 1) : argv[++i]);
    switch (flag) {
      case '--collector': out.collectorUrl = value(); break;
      case '--site-key': out.siteKey = value(); break;
      case '--origin': out.origin = value(); break;
      case '--visitors': out.visitors = Number(value()); break;
      case '--seed': out.seed = Number(value()); break;
      case '--now': {
        const v = value();
        out.now = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
        if (!Number.isFinite(out.now)) throw new Error(`--now: expected milliseconds or an ISO date, got ${v}`);
        break;
      }
      case '--dry-run': out.dryRun = true; break;
      case '--verbose': out.verbose = true; break;
      case '--help':
      case '-h': out.help = true; break;
      default: throw new Error(`unknown argument ${arg} (try --help)`);
    }
  }
  return out;
}

const USAGE = `usage: node scripts/seed.mjs [--collector http://127.0.0.1:8787] [--site-key KEY] [--origin URL]
                           [--visitors 300] [--seed N] [--now ISO|ms] [--dry-run] [--verbose]
  Without --collector/--site-key/--origin: those of the running \`npm start\` (data/keys.json,
  WAYMARK_PORT, the demo site's origin from WAYMARK_DEMO_PORT). --origin is the Origin header sent,
  needed when the site key is restricted to origins.
  Without --seed: new random visitors on every run.`;

function formatCounts(counts, order) {
  const keys = order ? order.filter((k) => counts[k]) : Object.keys(counts).sort((a, b) => counts[b] - counts[a]);
  return keys.map((k) => `${k} ${counts[k]}`).join(', ');
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`seed: ${err.message}\n${USAGE}`);
    process.exit(2);
  }
  if (args.help) {
    console.log(USAGE);
    return;
  }
  // `npm run seed` beside a running `npm start`: its keys and port, unless given.
  if (!args.siteKey || !args.collectorUrl) {
    try {
      const dataDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', process.env.WAYMARK_DATA_DIR || 'data');
      const keys = JSON.parse(fs.readFileSync(path.join(dataDir, 'keys.json'), 'utf8'));
      args.siteKey = args.siteKey || keys.site_key;
      args.collectorUrl = args.collectorUrl || `http://${process.env.WAYMARK_HOST || '127.0.0.1'}:${process.env.WAYMARK_PORT || 8787}`;
      args.origin = args.origin || `http://${process.env.WAYMARK_HOST || '127.0.0.1'}:${process.env.WAYMARK_DEMO_PORT || 8080}`;
    } catch {
      // no npm start data: both flags are required below
    }
  }
  // Run by hand, every run brings new visitors unless --seed pins them.
  if (args.seed === undefined) args.seed = Math.floor(Math.random() * 1e9);
  if (!args.dryRun && (!args.collectorUrl || !args.siteKey)) {
    console.error(`seed: --collector and --site-key are required\n${USAGE}`);
    process.exit(2);
  }
  if (args.visitors !== undefined && (!Number.isInteger(args.visitors) || args.visitors < 1 || args.visitors > 100000)) {
    console.error('seed: --visitors must be a whole number from 1 to 100000');
    process.exit(2);
  }
  if (args.seed !== undefined && !Number.isInteger(args.seed)) {
    console.error('seed: --seed must be a whole number');
    process.exit(2);
  }
  const { verbose, help, ...options } = args;
  const s = await seed({ ...options, log: verbose ? (line) => console.log(`  ${line}`) : () => {} });
  const stageOrder = ['awareness', 'engaged', 'lead', 'qualified', 'trial', 'customer', 'retained', 'advocate', 'dormant', 'churned'];
  console.log(`seed: ${s.visitors} visitors (seed ${s.seed}), ${s.events} events, ${s.batches} batches${args.dryRun ? ' (dry run: nothing sent)' : ` to ${args.collectorUrl}`}`);
  console.log(`  times up to ${new Date(s.now).toISOString()}; ${s.identified} identified users; ${s.dormantSpells} dormant spells`);
  console.log(`  first channels: ${formatCounts(s.channels)}`);
  console.log(`  simulated stages now: ${formatCounts(s.finalStages, stageOrder)}`);
  if (!args.dryRun) {
    console.log(`  collector: accepted ${s.accepted}, duplicates ${s.duplicates}, rejected ${s.rejected}${s.failedBatches ? `, failed batches ${s.failedBatches}` : ''}`);
    for (const [reason, { count, example }] of Object.entries(s.rejections)) console.log(`  rejected ${count} x ${reason}: ${example}`);
    for (const e of s.errors.slice(0, 5)) console.log(`  error: ${e}`);
  }
  if (s.rejected > 0 || s.failedBatches > 0) process.exit(1);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(`seed: ${err && err.stack ? err.stack : err}`);
    process.exit(1);
  });
}
