// Beacon demo site: the behaviour every page shares, and each page's own touches (chosen by
// <body data-page="...">). Everything a page tracks goes through `waymark`, the SDK the page
// includes in <head>; when the SDK is missing or blocked the site still works, it just tracks
// nothing. Nothing the visitor types is ever read into an event.
(function () {
  'use strict';

  var doc = document;
  var STATE_KEY = 'beacon-demo';
  var PLANS = {
    starter: { name: 'Starter', price: 0, seats: '3' },
    team: { name: 'Team', price: 49, seats: '20' },
    business: { name: 'Business', price: 199, seats: 'Unlimited' },
  };

  // ---- small helpers -----------------------------------------------------------------------

  /** The SDK, or null when it did not load. */
  function wm() {
    var w = window.waymark;
    return w && typeof w.track === 'function' && typeof w.stage === 'function' ? w : null;
  }

  function track(name, properties) {
    var w = wm();
    if (!w) return null;
    try {
      return w.track(name, properties || {});
    } catch (err) {
      return null; // the SDK never throws, but a demo page must not break either way
    }
  }

  /** Sends what is queued (before leaving the page); resolves whatever happens. */
  function flush(timeoutMs) {
    var w = wm();
    if (!w || typeof w.flush !== 'function') return Promise.resolve();
    var timer = new Promise(function (resolve) { setTimeout(resolve, (timeoutMs || 2500) + 200); });
    return Promise.race([Promise.resolve(w.flush({ timeoutMs: timeoutMs || 2500 })).catch(function () {}), timer]);
  }

  function $(selector, root) { return (root || doc).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || doc).querySelectorAll(selector)); }
  function setText(selector, text) { $all(selector).forEach(function (el) { el.textContent = text; }); }

  function loadState() {
    try {
      var parsed = JSON.parse(window.localStorage.getItem(STATE_KEY) || '{}');
      return parsed && typeof parsed === 'object' ? parsed : {};
    } catch (err) {
      return {};
    }
  }

  function saveState(patch) {
    var next = loadState();
    Object.keys(patch).forEach(function (k) { next[k] = patch[k]; });
    try {
      window.localStorage.setItem(STATE_KEY, JSON.stringify(next));
    } catch (err) {
      // storage blocked: the demo forgets, nothing else
    }
    return next;
  }

  function param(name) {
    try {
      return new URL(window.location.href).searchParams.get(name);
    } catch (err) {
      return null;
    }
  }

  function planFrom(value, fallback) {
    return Object.prototype.hasOwnProperty.call(PLANS, value) ? value : fallback;
  }

  function money(n) { return '$' + n.toFixed(2); }

  function randomId(prefix) {
    var bytes = new Uint8Array(8);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return prefix + Array.prototype.map.call(bytes, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
  }

  function show(el) { if (el) el.hidden = false; }
  function hide(el) { if (el) el.hidden = true; }

  function flashToast(el, text) {
    if (!el) return;
    if (text) el.textContent = text;
    el.hidden = false;
  }

  // ---- the journey stage in the footer ("You are in: lead") ---------------------------------

  function renderStage() {
    var el = doc.getElementById('wm-stage');
    var w = wm();
    if (!el) return;
    if (!w) {
      el.textContent = 'unknown (tracker not loaded)';
      return;
    }
    var id = null;
    var ctx = null;
    try {
      id = w.stage();
      ctx = w.context();
    } catch (err) {
      id = null;
    }
    if (!id) {
      el.textContent = 'unknown';
      return;
    }
    el.textContent = id;
    el.setAttribute('data-stage', id);
    el.setAttribute('title', ctx && ctx.stageName ? 'Journey stage: ' + ctx.stageName : 'Journey stage');
    doc.documentElement.setAttribute('data-wm-stage', id);
    renderStageNotes(id);
  }

  // Copy outside the map's slots that still depends on where the visitor is: a customer is not
  // told about the free plan. The page's own text stays for the initial stages (and without JS).
  var STAGE_NOTES = {
    lead: 'Start a 14-day trial of every Team feature. No credit card needed.',
    qualified: 'Start a 14-day trial of every Team feature. No credit card needed.',
    trial: 'Your trial includes every Team feature. Upgrade any time; your data stays.',
    customer: 'Thanks for being a customer. Invite your team from your account page.',
    retained: 'Thanks for being a customer. Invite your team from your account page.',
    advocate: 'Thanks for spreading the word: every friend you invite gets a month free.',
    dormant: 'Welcome back. Your workspace and reports are where you left them.',
    churned: 'Come back any time: your journeys are kept, and the first month is on us.',
  };

  function renderStageNotes(id) {
    $all('[data-stage-note]').forEach(function (el) {
      if (!el.hasAttribute('data-default-note')) el.setAttribute('data-default-note', el.textContent);
      el.textContent = STAGE_NOTES[id] || el.getAttribute('data-default-note');
    });
  }

  function installStage() {
    var w = wm();
    if (!w) {
      renderStage();
      return;
    }
    // Deferred a tick: the listener runs while the engine is still reporting the transition.
    w.on('stage', function () {
      setTimeout(renderStage, 0);
    });
    Promise.resolve(w.ready()).then(renderStage, renderStage);
  }

  // ---- shared chrome -----------------------------------------------------------------------

  function installNav() {
    var toggle = $('.nav-toggle');
    var nav = $('#site-nav');
    if (!toggle || !nav) return;
    toggle.addEventListener('click', function () {
      var open = toggle.getAttribute('aria-expanded') !== 'true';
      toggle.setAttribute('aria-expanded', String(open));
      nav.classList.toggle('open', open);
    });
  }

  function installVideo() {
    $all('[data-open-video]').forEach(function (button) {
      button.addEventListener('click', function () {
        var dialog = $('#tour-video');
        if (dialog && typeof dialog.showModal === 'function' && !dialog.open) dialog.showModal();
      });
    });
  }

  function installReset() {
    $all('[data-demo-reset]').forEach(function (button) {
      button.addEventListener('click', function () {
        var w = wm();
        try {
          if (w) w.reset();
          window.localStorage.removeItem(STATE_KEY);
        } catch (err) {
          // keep going: a fresh page is what matters
        }
        window.location.assign('/');
      });
    });
  }

  // Plain forms that only show a confirmation (the newsletter box).
  function installSimpleForms() {
    $all('form[data-demo-form="newsletter"]').forEach(function (form) {
      form.addEventListener('submit', function (e) {
        e.preventDefault();
        hide(form);
        flashToast($('[data-form-done="newsletter"]'));
      });
    });
  }

  // ---- pages -------------------------------------------------------------------------------

  var pages = {};

  pages.features = function () {
    track('feature_viewed', { section: 'overview' });
  };

  pages.pricing = function () {
    track('pricing_viewed', { section: 'plans' });
    var buttons = $all('[data-billing]');
    buttons.forEach(function (button) {
      button.addEventListener('click', function () {
        var annual = button.getAttribute('data-billing') === 'annual';
        buttons.forEach(function (b) { b.setAttribute('aria-pressed', String(b === button)); });
        $all('[data-price-monthly]').forEach(function (el) {
          var monthly = Number(el.getAttribute('data-price-monthly'));
          el.textContent = '$' + (annual ? Math.round((monthly * 10) / 12) : monthly);
        });
      });
    });
  };

  // The article: `content_read` once the reader reaches its end.
  pages.article = function () {
    var end = $('#article-end');
    var article = $('[data-article]');
    var slug = (article && article.getAttribute('data-article')) || 'journey-mapping-guide';
    var done = false;
    function read() {
      if (done) return;
      done = true;
      track('content_read', { article: slug });
      show($('[data-read-marker]'));
    }
    if (!end) return;
    if ('IntersectionObserver' in window) {
      var observer = new IntersectionObserver(function (entries) {
        entries.forEach(function (entry) {
          if (entry.isIntersecting) {
            observer.disconnect();
            read();
          }
        });
      }, { threshold: 0.25 });
      observer.observe(end);
    } else {
      window.addEventListener('scroll', function onScroll() {
        if (end.getBoundingClientRect().top < window.innerHeight) {
          window.removeEventListener('scroll', onScroll);
          read();
        }
      }, { passive: true });
    }
  };

  // The lead form: <form data-waymark-event="lead_submitted">; the SDK records the submit, the page
  // keeps it from going anywhere and says thank you.
  pages.lead = function () {
    var form = $('#lead-form');
    if (!form) return;
    var button = $('#lead-submit');
    function syncOffer() {
      var checked = $('input[name="offer"]:checked', form);
      var offer = checked ? checked.value : 'guide';
      form.setAttribute('data-waymark-prop-offer', offer);
      if (button) button.textContent = offer === 'sales_call' ? 'Book my walkthrough' : 'Send me the guide';
      return offer;
    }
    if (param('topic') === 'sales') {
      var sales = $('input[value="sales_call"]', form);
      if (sales) sales.checked = true;
    }
    syncOffer();
    $all('input[name="offer"]', form).forEach(function (r) { r.addEventListener('change', syncOffer); });
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var offer = syncOffer();
      saveState({ lead: offer });
      hide(form);
      var thanks = $('#lead-thanks');
      if (offer === 'sales_call') {
        setText('#lead-thanks h2', 'Thank you! We will be in touch today.');
        setText('[data-thanks-text]', 'A product specialist will e-mail you a few times to choose from. Meanwhile, you can try Beacon yourself.');
      }
      show(thanks);
      if (thanks) thanks.focus();
    });
  };

  // Sign-up: <form data-waymark-event="signed_up">, then identify the new user and go to the app.
  pages.signup = function () {
    var form = $('#signup-form');
    if (!form) return;
    var plan = planFrom(param('plan'), 'team');
    form.setAttribute('data-waymark-prop-plan', plan);
    setText('[data-plan-name]', PLANS[plan].name);
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var button = $('#signup-submit');
      if (button) {
        button.disabled = true;
        button.textContent = 'Creating your workspace...';
      }
      var workspace = ($('#su-workspace') || {}).value || 'Your workspace';
      var userId = loadState().userId || randomId('usr_');
      saveState({ signedUp: Date.now(), plan: plan, workspace: String(workspace).slice(0, 60), userId: userId, trialStarted: null, customer: null });
      var w = wm();
      if (w) {
        try {
          w.identify(userId, { plan: plan });
        } catch (err) {
          // the app page works without it
        }
      }
      flush(2500).then(function () { window.location.assign('/app.html'); });
    });
  };

  // The trial app: trial_started on the first visit after signing up; feature_used on its buttons.
  pages.app = function () {
    var state = loadState();
    if (state.signedUp && !state.trialStarted && !state.customer) {
      track('trial_started', { plan: planFrom(state.plan, 'team') });
      state = saveState({ trialStarted: Date.now() });
    }
    setText('[data-workspace-name]', state.workspace || 'Your workspace');
    if (state.customer) {
      setText('[data-plan-label]', PLANS[planFrom(state.customer, 'team')].name + ' plan');
      hide($('[data-trial-days]'));
      hide($('.trial-meter .track'));
    } else if (state.trialStarted) {
      var left = Math.max(0, 14 - Math.floor((Date.now() - state.trialStarted) / 86400000));
      setText('[data-trial-days]', left + (left === 1 ? ' day' : ' days') + ' left in your trial');
    } else {
      setText('[data-plan-label]', 'No workspace yet');
      setText('[data-trial-days]', 'Start a free trial to create one');
    }
    $all('[data-waymark-event="feature_used"]').forEach(function (button) {
      button.addEventListener('click', function () {
        var step = button.closest('[data-step]');
        if (step) step.classList.add('done');
        show($('#feature-toast'));
      });
    });
  };

  // Checkout: checkout_started on load, order_completed on "Pay" (the map's conversion event).
  pages.upgrade = function () {
    var state = loadState();
    var plan = planFrom(param('plan'), planFrom(state.plan, 'team'));
    if (plan === 'starter') plan = 'team';
    var info = PLANS[plan];
    setText('[data-plan-name]', info.name);
    setText('[data-plan-price]', money(info.price));
    setText('[data-plan-seats]', info.seats);
    track('checkout_started', { plan: plan, value: info.price, currency: 'USD' });
    var form = $('#pay-form');
    if (!form) return;
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var orderId = randomId('ord_');
      track('order_completed', { plan: plan, value: info.price, currency: 'USD', order_id: orderId });
      saveState({ customer: plan, plan: plan, cancelled: null });
      setText('[data-order-id]', orderId);
      hide($('#checkout-step'));
      var done = $('#order-done');
      show(done);
      if (done) done.focus();
      window.scrollTo(0, 0);
      flush(2500);
    });
  };

  // The account: invite a friend (advocacy), review, renew, cancel.
  pages.account = function () {
    var state = loadState();
    var plan = state.customer ? PLANS[planFrom(state.customer, 'team')].name : null;
    setText('[data-account-plan]', plan ? plan + (state.cancelled ? ' (cancelled)' : '') : state.signedUp ? 'Team (trial)' : 'No plan yet');
    setText('[data-workspace-name]', state.workspace || 'Your workspace');
    if (plan && !state.cancelled) {
      var next = new Date(Date.now() + 30 * 86400000);
      setText('[data-next-invoice]', next.toLocaleDateString('en-GB', { day: 'numeric', month: 'long', year: 'numeric' }));
    }
    var invite = $('#invite-form');
    if (invite) {
      invite.addEventListener('submit', function (e) {
        e.preventDefault();
        track('friend_invited', { channel: 'email' });
        invite.reset();
        show($('#invite-done'));
      });
    }
    var review = $('#review');
    if (review) review.addEventListener('click', function () { show($('#review-done')); });
    var renew = $('#renew');
    if (renew) {
      renew.addEventListener('click', function () {
        flashToast($('#billing-done'), 'Renewed for a year. Thank you for staying with us!');
      });
    }
    var cancelStart = $('#cancel-start');
    var confirmBox = $('#cancel-confirm');
    if (cancelStart && confirmBox) {
      cancelStart.addEventListener('click', function () {
        var open = confirmBox.hidden;
        confirmBox.hidden = !open;
        cancelStart.setAttribute('aria-expanded', String(open));
      });
    }
    var cancelYes = $('#cancel-yes');
    if (cancelYes) {
      cancelYes.addEventListener('click', function () {
        track('subscription_cancelled', { reason: 'demo' });
        saveState({ cancelled: Date.now() });
        hide(confirmBox);
        setText('[data-account-plan]', (plan || 'Team') + ' (cancelled)');
        flashToast($('#billing-done'), 'Your subscription is cancelled. Your dashboards stay for 90 days.');
      });
    }
    if (window.location.hash === '#invite') {
      var section = $('#invite');
      if (section) section.focus({ preventScroll: true });
    }
  };

  // ---- start -------------------------------------------------------------------------------

  function start() {
    var steps = [installStage, installNav, installVideo, installReset, installSimpleForms];
    var pageId = doc.body && doc.body.getAttribute('data-page');
    if (pageId && pages[pageId]) steps.push(pages[pageId]);
    steps.forEach(function (step) {
      try {
        step();
      } catch (err) {
        if (window.console) window.console.warn('beacon demo:', err);
      }
    });
  }

  if (doc.readyState === 'loading') doc.addEventListener('DOMContentLoaded', start);
  else start();
})();
