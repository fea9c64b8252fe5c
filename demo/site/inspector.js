// The journey inspector: a small fixed panel that shows what waymark knows about this visitor,
// live. Off unless the URL says `?inspect=1` (remembered in sessionStorage while navigating;
// `?inspect=0` turns it off again).
//
// It shows the current stage (name and id), the score and its top rules, the time in the stage,
// the touchpoints tracked on this page, the content chosen for each slot, WHY the stage was
// reached (the last transitions: from -> to, the rule, when) and what could move the visitor on
// next (from the map the collector publishes).
//
// Rules it keeps: it never breaks the page (every entry point catches), it only ever renders text
// (createElement + textContent, never innerHTML), and it reads waymark's public API only.
(function () {
  'use strict';

  var STORAGE_KEY = 'waymark:inspect';
  var MAX_EVENTS = 15;
  var MAX_TRANSITIONS = 6;
  var MAX_RULES = 5;

  function wanted() {
    var flag = null;
    try {
      flag = new URL(window.location.href).searchParams.get('inspect');
    } catch (err) {
      flag = null;
    }
    try {
      if (flag === '1' || flag === 'true') {
        window.sessionStorage.setItem(STORAGE_KEY, '1');
        window.sessionStorage.removeItem(STORAGE_KEY + ':collapsed');
      } else if (flag === '0' || flag === 'false') {
        window.sessionStorage.removeItem(STORAGE_KEY);
      }
      return window.sessionStorage.getItem(STORAGE_KEY) === '1';
    } catch (err) {
      return flag === '1' || flag === 'true'; // sessionStorage blocked: this page only
    }
  }

  // ---- text-only DOM helpers ---------------------------------------------------------------

  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value == null || value === false) return;
        if (name === 'text') el.textContent = String(value);
        else if (name === 'className') el.className = String(value);
        else el.setAttribute(name, String(value));
      });
    }
    (children || []).forEach(function (child) {
      if (child == null || child === false) return;
      el.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    });
    return el;
  }

  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
  }

  function duration(ms) {
    if (typeof ms !== 'number' || !isFinite(ms) || ms < 0) return '-';
    var s = Math.floor(ms / 1000);
    if (s < 60) return s + ' s';
    var m = Math.floor(s / 60);
    if (m < 60) return m + ' min ' + (s % 60) + ' s';
    var hrs = Math.floor(m / 60);
    if (hrs < 48) return hrs + ' h ' + (m % 60) + ' min';
    return Math.floor(hrs / 24) + ' d ' + (hrs % 24) + ' h';
  }

  function ago(at) {
    if (typeof at !== 'number' || !isFinite(at)) return '';
    var d = Date.now() - at;
    if (d < 1500) return 'now';
    return duration(d).split(' ').slice(0, 2).join(' ') + ' ago';
  }

  function clock(at) {
    try {
      return new Date(at).toLocaleString();
    } catch (err) {
      return String(at);
    }
  }

  function round(n, digits) {
    if (typeof n !== 'number' || !isFinite(n)) return '-';
    var f = Math.pow(10, digits || 0);
    return String(Math.round(n * f) / f);
  }

  // ---- the map (for "what moves me on"), from the collector's public GET /v1/map ------------

  function describeCondition(c) {
    if (!c || typeof c !== 'object') return '';
    try {
      if (c.event !== undefined) return [].concat(c.event).join(' or ');
      if (c.any) return c.any.map(describeCondition).filter(Boolean).join(', or ');
      if (c.all) return c.all.map(describeCondition).filter(Boolean).join(' and ');
      if (c.not) return 'not (' + describeCondition(c.not) + ')';
      if (c.count) {
        return (c.count.at_least || 1) + 'x ' + [].concat(c.count.event).join('/') + (c.count.within ? ' within ' + c.count.within : '');
      }
      if (c.score) {
        var ops = { gte: '>=', gt: '>', lte: '<=', lt: '<', equals: '=' };
        var parts = Object.keys(ops).filter(function (k) { return c.score[k] !== undefined; });
        return 'score ' + parts.map(function (k) { return ops[k] + ' ' + c.score[k]; }).join(' ') + (c.score.group ? ' (' + c.score.group + ')' : '');
      }
      if (c.inactive_for) return 'inactive for ' + c.inactive_for;
      if (c.stage) return 'stage ' + [].concat(c.stage).join('/');
      if (c.field) return c.field + ' matches';
      if (c.always) return 'always';
    } catch (err) {
      return '';
    }
    return '';
  }

  var map = null;
  function loadMap(onLoaded) {
    var script = document.querySelector('script[data-endpoint][src*="waymark"]');
    var endpoint = script && script.getAttribute('data-endpoint');
    if (!endpoint || !/^https?:\/\//.test(endpoint) || typeof fetch !== 'function') return;
    fetch(endpoint.replace(/\/+$/, '') + '/v1/map', { credentials: 'omit' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (doc) {
        if (doc && Array.isArray(doc.transitions)) {
          map = doc;
          onLoaded();
        }
      })
      .catch(function () { /* no map: the panel simply leaves that part out */ });
  }

  function nextSteps(stage) {
    if (!map || !stage) return [];
    return map.transitions
      .filter(function (t) {
        var from = [].concat(t.from);
        return from.indexOf('*') >= 0 || from.indexOf(stage) >= 0;
      })
      .sort(function (a, b) { return (b.priority || 0) - (a.priority || 0); })
      .map(function (t) { return { rule: t.id, to: t.to, when: describeCondition(t.when) }; });
  }

  // ---- event names by id, kept for the session, so "why" can name the event that moved the
  // visitor on an earlier page (context() gives the transition's event id, not its name) -------

  var NAMES_KEY = STORAGE_KEY + ':names';
  var MAX_NAMES = 200;

  function loadNames() {
    try {
      var list = JSON.parse(window.sessionStorage.getItem(NAMES_KEY) || '[]');
      return Array.isArray(list) ? list : [];
    } catch (err) {
      return [];
    }
  }

  function rememberName(id, name) {
    try {
      var list = loadNames().filter(function (entry) { return entry && entry[0] !== id; });
      list.push([String(id), String(name)]);
      window.sessionStorage.setItem(NAMES_KEY, JSON.stringify(list.slice(-MAX_NAMES)));
    } catch (err) {
      // storage full or blocked: names from this page only
    }
  }

  // ---- the panel ---------------------------------------------------------------------------

  function Inspector(wm) {
    this.wm = wm;
    this.events = []; // this page's touchpoints, newest first
    this.lastError = null;
    this.pending = false;
    this.build();
  }

  Inspector.prototype.build = function () {
    var self = this;
    this.live = h('span', { className: 'wm-live off', title: 'waymark is loading' });
    this.toggle = h('button', { type: 'button', 'aria-expanded': 'true', 'aria-controls': 'wm-inspector-body', text: 'Hide' });
    var close = h('button', { type: 'button', 'aria-label': 'Close the journey inspector', title: 'Close (reopen with ?inspect=1)', text: 'Close' });
    this.body = h('div', { className: 'wm-body', id: 'wm-inspector-body' });
    this.root = h('aside', { className: 'wm-inspector', id: 'wm-inspector', 'aria-label': 'Journey inspector' }, [
      h('header', null, [this.live, h('b', { text: 'Journey inspector' }), h('span', { className: 'wm-spacer' }), this.toggle, close]),
      this.body,
    ]);

    this.sections = {};
    var add = function (key, title) {
      var content = h('div');
      var section = h('section', { 'data-wm-section': key }, [h('h3', { text: title }), content]);
      self.sections[key] = content;
      self.body.appendChild(section);
    };
    add('stage', 'Stage');
    add('score', 'Score');
    add('why', 'Why this stage');
    add('next', 'What moves the visitor on');
    add('events', 'Touchpoints on this page');
    add('content', 'Content shown');
    add('ids', 'Visitor');

    this.toggle.addEventListener('click', function () {
      var collapsed = self.root.classList.toggle('wm-collapsed');
      document.documentElement.classList.toggle('wm-inspecting', !collapsed);
      self.toggle.setAttribute('aria-expanded', String(!collapsed));
      self.toggle.textContent = collapsed ? 'Show' : 'Hide';
      try {
        window.sessionStorage.setItem(STORAGE_KEY + ':collapsed', collapsed ? '1' : '0');
      } catch (err) {
        // remembered for this page only
      }
    });
    close.addEventListener('click', function () {
      try {
        window.sessionStorage.removeItem(STORAGE_KEY);
      } catch (err) {
        // nothing remembered
      }
      self.destroy();
    });
    document.body.appendChild(this.root);
    var collapsed = false;
    try {
      collapsed = window.sessionStorage.getItem(STORAGE_KEY + ':collapsed') === '1';
    } catch (err) {
      collapsed = false;
    }
    if (collapsed) {
      this.root.classList.add('wm-collapsed');
      this.toggle.setAttribute('aria-expanded', 'false');
      this.toggle.textContent = 'Show';
    } else {
      document.documentElement.classList.add('wm-inspecting');
    }
    this.renderLoading();
  };

  Inspector.prototype.showSections = function (visible) {
    var sections = this.sections;
    Object.keys(sections).forEach(function (key) {
      if (key !== 'stage') sections[key].parentNode.hidden = !visible;
    });
  };

  Inspector.prototype.renderLoading = function () {
    this.showSections(false);
    clear(this.sections.stage);
    this.sections.stage.appendChild(h('p', { className: 'wm-empty', text: this.wm ? 'waymark is starting...' : 'waymark is not loaded on this page.' }));
  };

  Inspector.prototype.schedule = function () {
    var self = this;
    if (this.pending) return;
    this.pending = true;
    setTimeout(function () {
      self.pending = false;
      self.render();
    }, 0);
  };

  Inspector.prototype.render = function () {
    var ctx = null;
    try {
      ctx = this.wm && this.wm.context();
    } catch (err) {
      ctx = null;
    }
    if (!ctx) {
      this.renderLoading();
      return;
    }
    this.ctx = ctx;
    this.showSections(true);
    this.live.className = 'wm-live';
    this.live.setAttribute('title', 'live');
    this.renderStage(ctx);
    this.renderScore(ctx);
    this.renderWhy(ctx);
    this.renderNext(ctx);
    this.renderEvents(ctx);
    this.renderContent(ctx);
    this.renderIds(ctx);
  };

  Inspector.prototype.renderStage = function (ctx) {
    var el = this.sections.stage;
    clear(el);
    this.timeInStage = h('span', { className: 'wm-dim', text: duration(Date.now() - ctx.stageEnteredAt) });
    el.appendChild(h('div', { className: 'wm-stage' }, [
      h('span', { className: 'wm-stage-name', 'data-wm-stage-name': '', text: ctx.stageName || ctx.stage }),
      h('code', { 'data-wm-stage-id': '', text: ctx.stage }),
    ]));
    el.appendChild(h('div', { className: 'wm-row' }, [
      h('span', { className: 'wm-dim', text: 'time in stage' }),
      this.timeInStage,
    ]));
    if (this.lastStageShown && this.lastStageShown !== ctx.stage) el.parentNode.classList.add('wm-flash');
    var section = el.parentNode;
    setTimeout(function () { section.classList.remove('wm-flash'); }, 1300);
    this.lastStageShown = ctx.stage;
  };

  Inspector.prototype.renderScore = function (ctx) {
    var el = this.sections.score;
    clear(el);
    var cap = (map && map.scoring && map.scoring.cap) || 100;
    var score = typeof ctx.score === 'number' ? ctx.score : 0;
    el.appendChild(h('div', { className: 'wm-row' }, [
      h('span', { className: 'wm-score', 'data-wm-score': '', text: round(score, 1) }),
      h('span', { className: 'wm-dim', text: 'of ' + cap + ', decays over time' }),
    ]));
    el.appendChild(h('div', { className: 'wm-bar' }, [h('i', { style: 'width:' + Math.max(0, Math.min(100, (score / cap) * 100)) + '%' })]));
    var rules = (Array.isArray(ctx.scoreBreakdown) ? ctx.scoreBreakdown.slice() : [])
      .sort(function (a, b) { return (b.points || 0) - (a.points || 0); })
      .slice(0, MAX_RULES);
    if (!rules.length) {
      el.appendChild(h('p', { className: 'wm-empty', text: 'No points yet.' }));
      return;
    }
    el.appendChild(h('ul', null, rules.map(function (r) {
      return h('li', null, [
        h('span', { className: 'wm-main' }, [h('code', { text: r.rule }), r.group ? h('span', { className: 'wm-dim', text: ' ' + r.group }) : null]),
        h('span', { className: 'wm-when', text: '+' + round(r.points, 1) }),
      ]);
    })));
  };

  Inspector.prototype.renderWhy = function (ctx) {
    var el = this.sections.why;
    clear(el);
    var list = (Array.isArray(ctx.transitions) ? ctx.transitions.slice(-MAX_TRANSITIONS) : []).reverse();
    if (!list.length) {
      el.appendChild(h('p', { className: 'wm-empty', text: 'Still in the initial stage: nothing has moved this visitor yet.' }));
      return;
    }
    var names = {};
    loadNames().forEach(function (entry) { if (entry) names[entry[0]] = entry[1]; });
    this.events.forEach(function (e) { names[e.id] = e.name; });
    el.appendChild(h('ol', { className: 'wm-why' }, list.map(function (t) {
      var cause = t.event_id ? (names[t.event_id] ? 'on ' + names[t.event_id] : 'on an earlier event') : 'timed (inactivity)';
      return h('li', { 'data-wm-transition': t.rule }, [
        h('div', { className: 'wm-row' }, [
          h('span', { className: 'wm-arrow', text: (t.from || 'start') + ' \u2192 ' + t.to }),
          h('span', { className: 'wm-when', title: clock(t.at), text: ago(t.at) }),
        ]),
        h('div', { className: 'wm-dim' }, ['rule ', h('code', { text: t.rule }), ', ' + cause]),
      ]);
    })));
  };

  Inspector.prototype.renderNext = function (ctx) {
    var el = this.sections.next;
    clear(el);
    var steps = nextSteps(ctx.stage);
    el.parentNode.hidden = !map;
    if (!map) return;
    if (!steps.length) {
      el.appendChild(h('p', { className: 'wm-empty', text: 'No transition leaves this stage.' }));
      return;
    }
    el.appendChild(h('ul', null, steps.map(function (s) {
      return h('li', null, [
        h('span', { className: 'wm-main', title: s.when }, [
          h('span', { className: 'wm-arrow', text: '\u2192 ' + (s.to === '$previous' ? 'previous stage' : s.to) + ' ' }),
          h('span', { className: 'wm-dim', text: s.when }),
        ]),
        h('code', { className: 'wm-when', text: s.rule }),
      ]);
    })));
  };

  Inspector.prototype.renderEvents = function (ctx) {
    var el = this.sections.events;
    clear(el);
    if (!this.events.length) {
      el.appendChild(h('p', { className: 'wm-empty', text: 'Nothing tracked on this page yet.' }));
      return;
    }
    var moved = {};
    (ctx.transitions || []).forEach(function (t) { if (t.event_id) moved[t.event_id] = t.to; });
    el.appendChild(h('ol', null, this.events.map(function (e) {
      var tag = moved[e.id] ? h('span', { className: 'wm-tag moved', text: '\u2192 ' + moved[e.id] })
        : e.status && e.status !== 'accepted' ? h('span', { className: 'wm-tag ' + e.status, text: e.status }) : null;
      return h('li', { 'data-wm-event': e.name }, [
        h('span', { className: 'wm-main' }, [h('code', { text: e.name }), ' ', tag]),
        h('span', { className: 'wm-when', title: clock(e.time), text: ago(e.time) }),
      ]);
    })));
    if (this.lastError) el.appendChild(h('p', { className: 'wm-dim', text: 'Last error: ' + this.lastError }));
  };

  Inspector.prototype.renderContent = function (ctx) {
    var el = this.sections.content;
    clear(el);
    var content = Array.isArray(ctx.content) ? ctx.content : [];
    if (!content.length) {
      el.appendChild(h('p', { className: 'wm-empty', text: 'No content decisions.' }));
      return;
    }
    el.appendChild(h('ul', null, content.map(function (c) {
      var onPage = document.querySelector('[data-waymark-slot="' + String(c.slot).replace(/[^a-z0-9_-]/gi, '') + '"]');
      return h('li', null, [
        h('span', { className: 'wm-main' }, [h('span', { className: 'wm-dim', text: c.slot + ' ' }), h('code', { text: c.variant })]),
        h('span', { className: 'wm-when', text: onPage ? 'on this page' : 'no slot here' }),
      ]);
    })));
  };

  Inspector.prototype.renderIds = function (ctx) {
    var el = this.sections.ids;
    clear(el);
    var rows = [
      ['anonymous id', ctx.anonymousId],
      ['user id', ctx.userId || '(anonymous)'],
      ['consent', ctx.consent],
      ['map version', ctx.mapVersion],
    ];
    el.appendChild(h('ul', null, rows.map(function (r) {
      return h('li', null, [h('span', { className: 'wm-dim', text: r[0] }), h('code', { className: 'wm-main', title: String(r[1]), text: String(r[1]) })]);
    })));
  };

  Inspector.prototype.tick = function () {
    if (this.timeInStage && this.ctx) this.timeInStage.textContent = duration(Date.now() - this.ctx.stageEnteredAt);
  };

  Inspector.prototype.start = function () {
    var self = this;
    var wm = this.wm;
    if (!wm) return;
    this.onEvent = function (e) {
      try {
        if (!e || !e.name) return;
        self.events.unshift({ id: e.id, name: e.name, status: e.status, stage: e.stage, time: e.time || Date.now() });
        if (self.events.length > MAX_EVENTS) self.events.length = MAX_EVENTS;
        if (e.id && e.name !== 'content_shown') rememberName(e.id, e.name);
        self.schedule();
      } catch (err) {
        // never break the page
      }
    };
    this.onChange = function () { self.schedule(); };
    this.onError = function (err) {
      self.lastError = (err && (err.code || err.message)) || 'error';
      self.schedule();
    };
    wm.on('event', this.onEvent);
    wm.on('stage', this.onChange);
    wm.on('error', this.onError);
    Promise.resolve(wm.ready()).then(function () { self.schedule(); }, function () { self.schedule(); });
    loadMap(function () { self.schedule(); });
    this.timer = setInterval(function () {
      try {
        self.tick();
      } catch (err) {
        // keep ticking
      }
    }, 1000);
  };

  Inspector.prototype.destroy = function () {
    try {
      if (this.timer) clearInterval(this.timer);
      if (this.wm) {
        this.wm.off('event', this.onEvent);
        this.wm.off('stage', this.onChange);
        this.wm.off('error', this.onError);
      }
      if (this.root && this.root.parentNode) this.root.parentNode.removeChild(this.root);
      document.documentElement.classList.remove('wm-inspecting');
    } catch (err) {
      // gone is gone
    }
  };

  function boot() {
    try {
      if (!wanted()) return;
      var w = window.waymark;
      var wm = w && typeof w.context === 'function' && typeof w.on === 'function' ? w : null;
      var inspector = new Inspector(wm);
      inspector.start();
      window.waymarkInspector = inspector;
    } catch (err) {
      if (window.console) window.console.warn('waymark inspector:', err);
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
