// Browser tests' harness: Debian's Chromium driven by playwright-core, the real collector on
// loopback behind a recording proxy (which can also answer 503 for a while), and a static site
// serving the BUILT dist/ files and the test pages in tests/browser/pages.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { SITE_KEY, startCollector, stopCollector, waitFor, adminGet } from '../collector/helpers.mjs';

export { SITE_KEY, waitFor };
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const PAGES = path.join(ROOT, 'tests', 'browser', 'pages');
/** The default journey map as an object (core/maps/default.json), for tests that change it. */
export const defaultMap = () => JSON.parse(fs.readFileSync(path.join(ROOT, 'core', 'maps', 'default.json'), 'utf8'));
const DIST = path.join(ROOT, 'dist');

// Flags from TOOLCHAIN.md: without the background-networking ones Chromium keeps trying to reach
// hosts this closed network refuses.
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export function launchBrowser() {
  return chromium.launch({ executablePath: process.env.WAYMARK_CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };

/**
 * A proxy in front of the collector that records every /v1/batch request and answer, and can be
 * told to fail: `proxy.failNext(n, status, retryAfter)` answers the next n batch requests itself.
 */
function startProxy(target) {
  const proxy = { batches: [], failures: 0, failLeft: 0, failStatus: 503, retryAfter: null, server: null, url: null };
  proxy.failNext = (n, status = 503, retryAfter = null) => Object.assign(proxy, { failLeft: n, failStatus: status, retryAfter });
  proxy.reset = () => Object.assign(proxy, { batches: [], failures: 0, failLeft: 0 });
  /** Event ids the collector acknowledged (accepted or duplicate), and how many answers said duplicate. */
  proxy.acknowledged = () => {
    const accepted = [];
    let duplicates = 0;
    for (const b of proxy.batches) {
      for (const r of (b.answer && b.answer.results) || []) {
        if (r.status === 'accepted') accepted.push(r.id);
        if (r.status === 'duplicate') duplicates++;
      }
    }
    return { accepted, duplicates };
  };
  proxy.server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const isBatch = req.method === 'POST' && req.url.startsWith('/v1/batch');
      if (isBatch && proxy.failLeft > 0) {
        proxy.failLeft--;
        proxy.failures++;
        const headers = { 'Content-Type': 'application/json', 'Access-Control-Allow-Origin': req.headers.origin || '*' };
        if (proxy.retryAfter != null) {
          headers['Retry-After'] = String(proxy.retryAfter);
          headers['Access-Control-Expose-Headers'] = 'Retry-After';
        }
        res.writeHead(proxy.failStatus, headers);
        res.end(JSON.stringify({ error: { code: 'overloaded', message: 'test proxy says no' } }));
        return;
      }
      const headers = { ...req.headers };
      delete headers.host;
      // Plain answers, so the proxy can read what the collector said (Chromium asks for br).
      delete headers['accept-encoding'];
      const up = http.request(`${target}${req.url}`, { method: req.method, headers }, (upRes) => {
        const out = [];
        upRes.on('data', (c) => out.push(c));
        upRes.on('end', () => {
          const answerText = Buffer.concat(out);
          if (isBatch) {
            let sent = null;
            let answer = null;
            try {
              // The SDK's regular batches are gzip, named in the URL (`?encoding=gzip`).
              const gzip = new URL(req.url, 'http://x').searchParams.get('encoding') === 'gzip';
              sent = JSON.parse((gzip ? zlib.gunzipSync(body) : body).toString('utf8'));
              // Events as the collector reads them: the batch's shared fields put back into each
              // event that has no value of its own (`common`, see docs/collector-api.md).
              if (sent && sent.common && Array.isArray(sent.events)) sent.events = sent.events.map((e) => ({ ...sent.common, ...e }));
              answer = JSON.parse(answerText.toString('utf8'));
            } catch {
              // recorded as null
            }
            proxy.batches.push({ status: upRes.statusCode, sent, answer, keepalive: req.headers['sec-fetch-mode'], url: req.url, bytes: body.length });
          }
          res.writeHead(upRes.statusCode, upRes.headers);
          res.end(answerText);
        });
      });
      up.on('error', (err) => {
        res.writeHead(502);
        res.end(String(err));
      });
      up.end(body);
    });
  });
  return new Promise((resolve) => proxy.server.listen(0, '127.0.0.1', () => {
    proxy.url = `http://127.0.0.1:${proxy.server.address().port}`;
    resolve(proxy);
  }));
}

/** The body of a Playwright request to /v1/batch as text: gunzipped when the URL says `encoding=gzip`. */
export function batchText(request) {
  const body = request.postDataBuffer();
  if (!body) return null;
  const gzip = new URL(request.url()).searchParams.get('encoding') === 'gzip';
  return (gzip ? zlib.gunzipSync(body) : body).toString('utf8');
}

/** Serves /waymark/* from dist/ and /<page>.html from tests/browser/pages, with {{COLLECTOR}} and {{KEY}} filled in. */
function startSite(collectorUrl) {
  const site = { hits: [] };
  site.server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    site.hits.push(url.pathname);
    let file;
    if (url.pathname.startsWith('/waymark/')) file = path.join(DIST, path.basename(url.pathname));
    else file = path.join(PAGES, path.basename(url.pathname === '/' ? 'index.html' : url.pathname));
    if (!url.pathname.endsWith('.html') && !url.pathname.startsWith('/waymark/')) file = path.join(PAGES, 'spa.html'); // SPA routes
    if (!fs.existsSync(file)) {
      res.writeHead(404);
      res.end('not found');
      return;
    }
    let body = fs.readFileSync(file);
    const ext = path.extname(file);
    if (ext === '.html') body = Buffer.from(body.toString('utf8').replaceAll('{{COLLECTOR}}', collectorUrl).replaceAll('{{KEY}}', SITE_KEY));
    res.writeHead(200, { 'Content-Type': TYPES[ext] || 'application/octet-stream', 'Cache-Control': 'no-store' });
    res.end(body);
  });
  return new Promise((resolve) => site.server.listen(0, '127.0.0.1', () => {
    site.url = `http://127.0.0.1:${site.server.address().port}`;
    resolve(site);
  }));
}

/**
 * One collector, proxy, site and browser for a test file. `ctx.newPage()` opens a page in a fresh
 * browser context (its own storage) unless a context is given.
 */
export function useBrowserRig(options = {}) {
  const ctx = {};
  before(async () => {
    ctx.collector = await startCollector({ siteKeys: [SITE_KEY], ...options.collector });
    ctx.proxy = await startProxy(ctx.collector.url);
    ctx.site = await startSite(ctx.proxy.url);
    ctx.browser = await launchBrowser();
  });
  after(async () => {
    if (ctx.browser) await ctx.browser.close();
    if (ctx.site) ctx.site.server.close();
    if (ctx.proxy) ctx.proxy.server.close();
    if (ctx.collector) {
      const { code } = await stopCollector(ctx.collector);
      assert.equal(code, 0, `collector exit code; stderr: ${ctx.collector.stderr}`);
    }
  });
  ctx.newContext = (contextOptions = {}) => ctx.browser.newContext(contextOptions);
  ctx.newPage = async (context) => {
    const c = context || (await ctx.newContext());
    const page = await c.newPage();
    page.consoleMessages = [];
    page.pageErrors = [];
    page.on('console', (m) => page.consoleMessages.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => page.pageErrors.push(String(e)));
    return page;
  };
  ctx.pageUrl = (name) => `${ctx.site.url}/${name}`;
  /** The collector's stored profile of an anonymous id (admin API). */
  ctx.profile = async (id) => {
    const r = await adminGet(ctx.collector, `/v1/profiles/${encodeURIComponent(id)}`);
    return r.status === 200 ? r.json : null;
  };
  return ctx;
}

/** Waits until the page's waymark has finished init(); returns its anonymous id. */
export async function waymarkReady(page) {
  return page.evaluate(async () => {
    const deadline = Date.now() + 15000;
    while (!(window.waymark && window.waymark.ready)) {
      if (Date.now() > deadline) throw new Error('waymark never loaded');
      await new Promise((r) => setTimeout(r, 20));
    }
    await window.waymark.ready();
    return window.waymark.context().anonymousId;
  });
}

/**
 * Makes the proxy ask the collector for uncompressed answers. Chromium sends `Accept-Encoding:
 * gzip, deflate, br, zstd` and the collector (cpp-httplib built with zlib and brotli) then answers
 * `/v1/batch` with `Content-Encoding: br`; the proxy records `answer` by JSON-parsing the raw bytes,
 * so without this every recorded answer is null and `proxy.acknowledged()` finds nothing. Call it
 * inside a test, once the rig has started (it is idempotent: calling it in every test is fine).
 */
