// The bundler tier (issue 11, point 7): the package as `npm pack` makes it, installed offline into
// a small app (tests/bundlers/app), bundled by esbuild, webpack 5 and Vite from the project's own
// node_modules (Vite also as its dev server), each bundle served over HTTP on loopback and opened
// in headless Chromium against the real collector. For each: the .wasm is fetched from where the
// bundler put it and loads (init resolves ok: true), the app's events are stored by the collector,
// and the default map's `hero` and `cta` slots show the `trial` variants. esbuild is run with
// docs/sdk.md's command line; without it the .wasm is missing and init's error names the URL.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { SITE_KEY, getProfile, startCollector, stopCollector, waitFor } from '../collector/helpers.mjs';
import { launchBrowser } from '../browser/harness.mjs';
import { PLAIN_ESBUILD_ARGS, docsEsbuildArgs, npmSection } from './esbuild.config.mjs';
import webpackConfig from './webpack.config.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const ESBUILD_BIN = path.join(ROOT, 'node_modules', '.bin', 'esbuild');

// What the default map shows in the test page's slots once the visitor is in `trial`.
const DEFAULT_MAP = JSON.parse(fs.readFileSync(path.join(ROOT, 'core', 'maps', 'default.json'), 'utf8'));
const variant = (slot, id) => DEFAULT_MAP.content.slots.find((s) => s.id === slot).variants.find((v) => v.id === id);
const EXPECTED_SLOTS = {
  hero: { variant: 'hero_trial', text: variant('hero', 'hero_trial').content.text },
  cta: { variant: 'cta_upgrade', text: variant('cta', 'cta_upgrade').content.text, href: variant('cta', 'cta_upgrade').content.attrs.href },
};

const rig = { work: null, app: null, collector: null, browser: null };

before(async () => {
  rig.work = fs.mkdtempSync(path.join(os.tmpdir(), 'waymark-bundlers-'));
  // The package as a developer gets it: npm pack, then an offline install of the tarball (the
  // package has no dependencies) into the app. The bundlers come from the project's node_modules.
  const tarball = execFileSync('npm', ['pack', '--silent', '--pack-destination', rig.work], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').pop();
  rig.app = path.join(rig.work, 'app');
  fs.cpSync(path.join(HERE, 'app'), rig.app, { recursive: true });
  fs.writeFileSync(path.join(rig.app, 'package.json'), JSON.stringify({ name: 'bundler-app', version: '1.0.0', private: true }));
  execFileSync('npm', ['install', '--silent', '--offline', '--no-audit', '--no-fund', path.join(rig.work, tarball)], { cwd: rig.app, stdio: 'inherit' });
  rig.collector = await startCollector({ siteKeys: [SITE_KEY] });
  rig.browser = await launchBrowser();
});

after(async () => {
  if (rig.browser) await rig.browser.close();
  if (rig.collector) {
    const { code } = await stopCollector(rig.collector);
    assert.equal(code, 0, `collector exit code; stderr: ${rig.collector.stderr}`);
  }
  if (rig.work && !process.env.WAYMARK_KEEP_TEST_DIRS) fs.rmSync(rig.work, { recursive: true, force: true });
});

/** A fresh copy of the installed app (with its node_modules) for one bundler. */
function appCopy(name) {
  const dir = path.join(rig.work, name);
  fs.cpSync(rig.app, dir, { recursive: true });
  return dir;
}

/** index.html with the bundle's script tag in place of the source entry's. */
function writePage(dir, scriptTag) {
  const html = fs.readFileSync(path.join(HERE, 'app', 'index.html'), 'utf8');
  const source = '<script type="module" src="/src/index.js"></script>';
  assert.ok(html.includes(source), 'app/index.html has the entry script tag');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'index.html'), html.replace(source, scriptTag));
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css' };

/** A static file server for one bundle's output folder, on its own loopback origin. */
function serve(dir) {
  const site = { hits: [] };
  site.server = http.createServer((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = path.join(dir, pathname === '/' ? 'index.html' : pathname);
    const ok = file.startsWith(dir + path.sep) && fs.existsSync(file) && fs.statSync(file).isFile();
    site.hits.push(`${ok ? 200 : 404} ${pathname}`);
    if (!ok) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-store' });
    res.end(fs.readFileSync(file));
  });
  return new Promise((resolve) => site.server.listen(0, '127.0.0.1', () => {
    site.url = `http://127.0.0.1:${site.server.address().port}`;
    site.close = () => new Promise((done) => site.server.close(done));
    resolve(site);
  }));
}

/**
 * Opens the served app in a fresh browser context and waits for it to finish (window.__app.done).
 * Returns what the page reported, the slots' state, the .wasm responses and page errors.
 */
async function runApp(site) {
  const context = await rig.browser.newContext();
  try {
    const page = await context.newPage();
    const pageErrors = [];
    const wasm = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('response', (r) => {
      if (new URL(r.url()).pathname.endsWith('.wasm')) wasm.push({ url: r.url(), status: r.status() });
    });
    const query = new URLSearchParams({ endpoint: rig.collector.url, key: SITE_KEY });
    await page.goto(`${site.url}/?${query}`);
    await page.waitForFunction(() => window.__app && window.__app.done, null, { timeout: 20000 });
    const app = await page.evaluate(() => window.__app);
    const slots = await page.evaluate(() => {
      const read = (slot) => {
        const el = document.querySelector(`[data-waymark-slot="${slot}"]`);
        return { text: el.textContent, applied: el.getAttribute('data-waymark-applied'), href: el.getAttribute('href') };
      };
      return { hero: read('hero'), cta: read('cta') };
    });
    return { app, slots, wasm, pageErrors };
  } finally {
    await context.close();
  }
}

/** The whole check for one bundle: the wasm loads, events reach the collector, slots change. */
async function checkBundle(label, site) {
  const { app, slots, wasm, pageErrors } = await runApp(site);
  const detail = () => JSON.stringify({ app, slots, wasm, pageErrors, hits: site.hits });
  assert.equal(app.rejected, undefined, `${label}: init() rejected: ${detail()}`);
  assert.equal(app.init && app.init.ok, true, `${label}: init did not resolve ok: ${detail()}`);
  assert.equal(wasm.length, 1, `${label}: one .wasm fetched: ${detail()}`);
  assert.equal(wasm[0].status, 200, `${label}: the .wasm answered 200: ${detail()}`);
  assert.ok(wasm[0].url.startsWith(`${site.url}/`), `${label}: the .wasm came from the bundle's site: ${detail()}`);
  assert.equal(app.tracked.status, 'queued', `${label}: ${detail()}`);
  assert.equal(app.stage, 'trial', `${label}: stage after trial_started: ${detail()}`);
  assert.equal(app.flushed.pending, 0, `${label}: flush left events behind: ${detail()}`);
  assert.ok(app.flushed.delivered >= 1, `${label}: flush delivered nothing: ${detail()}`);
  // Personalized: the default map's trial variants, applied to the page's slot elements.
  for (const [slot, want] of Object.entries(EXPECTED_SLOTS)) {
    assert.equal(slots[slot].applied, want.variant, `${label}: slot ${slot}: ${detail()}`);
    assert.equal(slots[slot].text, want.text, `${label}: slot ${slot} text: ${detail()}`);
    if (want.href) assert.equal(slots[slot].href, want.href, `${label}: slot ${slot} href: ${detail()}`);
  }
  // Delivered: the collector stored the visitor's events and computed the same stage.
  const profile = await waitFor(async () => {
    const r = await getProfile(rig.collector, app.init.anonymousId);
    return r.status === 200 && r.json && r.json.stage === 'trial' ? r.json : null;
  }, { what: `${label}: the collector's profile of ${app.init.anonymousId} in stage trial` });
  assert.deepEqual(pageErrors, [], `${label}: page errors: ${detail()}`);
  assert.deepEqual(app.errors, [], `${label}: error events: ${detail()}`);
  return profile;
}

// What a bundler must emit: the engine's .wasm and the map compiler's (fetched only for maps given
// as JSON; runApp checks that the page fetched the engine's alone). Compared by size, since the
// bundlers rename them with hashes.
const SHIPPED_WASM_SIZES = ['waymark.wasm', 'waymark-compiler.wasm']
  .map((f) => fs.statSync(path.join(ROOT, 'dist', f)).size).sort((a, b) => a - b);
const wasmSizes = (dir, files) => files.map((f) => fs.statSync(path.join(dir, f)).size).sort((a, b) => a - b);

function esbuild(dir, args) {
  execFileSync(ESBUILD_BIN, [...args, '--log-level=warning'], { cwd: dir, stdio: 'inherit' });
}

test('webpack 5 with its defaults: the emitted .wasm loads, events are stored, slots are personalized', async () => {
  const { default: webpack } = await import('webpack');
  const dir = appCopy('webpack');
  const config = webpackConfig(dir);
  const stats = await new Promise((resolve, reject) => webpack(config, (err, s) => (err ? reject(err) : resolve(s))));
  assert.equal(stats.hasErrors(), false, stats.toString({ all: false, errors: true }));
  const out = config.output.path;
  const emitted = fs.readdirSync(out).filter((f) => f.endsWith('.wasm'));
  assert.deepEqual(wasmSizes(out, emitted), SHIPPED_WASM_SIZES, `webpack emitted the engine and the map compiler: ${fs.readdirSync(out)}`);
  writePage(out, '<script defer src="/main.js"></script>');
  const site = await serve(out);
  try {
    await checkBundle('webpack', site);
  } finally {
    await site.close();
  }
});

test('Vite with its defaults (vite build): the emitted .wasm loads, events are stored, slots are personalized', async () => {
  const { build } = await import('vite');
  const dir = appCopy('vite');
  await build({ root: dir, configFile: path.join(HERE, 'vite.config.mjs') });
  const out = path.join(dir, 'dist');
  const emitted = fs.readdirSync(path.join(out, 'assets')).filter((f) => f.endsWith('.wasm'));
  assert.deepEqual(wasmSizes(path.join(out, 'assets'), emitted), SHIPPED_WASM_SIZES, `vite emitted the engine and the map compiler: ${fs.readdirSync(path.join(out, 'assets'))}`);
  const site = await serve(out);
  try {
    await checkBundle('vite', site);
  } finally {
    await site.close();
  }
});

test('Vite dev server (vite) with its defaults: the .wasm loads, events are stored, slots are personalized', async () => {
  const { createServer } = await import('vite');
  const dir = appCopy('vite-dev');
  const server = await createServer({ root: dir, configFile: path.join(HERE, 'vite.config.mjs'), server: { host: '127.0.0.1', port: 0 } });
  await server.listen();
  try {
    const url = server.resolvedUrls.local[0].replace(/\/$/, '');
    await checkBundle('vite dev', { url, hits: ['(vite dev server)'] });
  } finally {
    await server.close();
  }
});

test("esbuild with docs/sdk.md's command and import: the .wasm loads, events are stored, slots are personalized", async () => {
  // The docs' code and the app's entry agree on how the URL is imported and passed.
  const importLine = "import wasmUrl from 'waymark/waymark.wasm';";
  assert.ok(npmSection().includes(importLine), `docs/sdk.md ("npm") shows ${importLine}`);
  assert.ok(fs.readFileSync(path.join(HERE, 'app', 'src', 'main.js'), 'utf8').includes(importLine));
  const args = docsEsbuildArgs();
  const dir = appCopy('esbuild');
  esbuild(dir, args);
  const flag = (name) => {
    const arg = args.find((a) => a.startsWith(`--${name}=`));
    assert.ok(arg, `the docs' esbuild line sets --${name}: ${args.join(' ')}`);
    return arg.slice(name.length + 3);
  };
  const outdir = flag('outdir');
  const publicPath = flag('public-path');
  const assets = path.join(dir, outdir);
  assert.ok(fs.readdirSync(assets).some((f) => /^waymark-.*\.wasm$/.test(f)), `esbuild copied the .wasm: ${fs.readdirSync(assets)}`);
  // The output folder is served at the public path; the page sits at the site's root.
  const siteRoot = path.join(dir, 'site');
  fs.mkdirSync(path.join(siteRoot, path.dirname(publicPath)), { recursive: true });
  fs.renameSync(assets, path.join(siteRoot, publicPath));
  const bundle = path.basename(args.find((a) => !a.startsWith('-'))).replace(/\.[cm]?[jt]sx?$/, '.js');
  writePage(siteRoot, `<script src="${publicPath.replace(/\/?$/, '/')}${bundle}"></script>`);
  const site = await serve(siteRoot);
  try {
    await checkBundle('esbuild', site);
  } finally {
    await site.close();
  }
});

test('esbuild without those flags: the .wasm 404s and init names the URL it tried; copying the file beside the bundle fixes it', async (t) => {
  const dir = appCopy('esbuild-plain');
  esbuild(dir, PLAIN_ESBUILD_ARGS);
  const root = path.join(dir, 'public');
  assert.deepEqual(fs.readdirSync(path.join(root, 'assets')), ['index.js'], 'esbuild left the .wasm behind');
  writePage(root, '<script src="/assets/index.js"></script>');
  const site = await serve(root);
  try {
    const { app, wasm, pageErrors } = await runApp(site);
    const detail = JSON.stringify({ app, wasm, pageErrors, hits: site.hits });
    const tried = `${site.url}/assets/waymark.wasm`;
    assert.equal(app.rejected, undefined, detail);
    assert.equal(app.init.ok, false, detail);
    assert.deepEqual(wasm, [{ url: tried, status: 404 }], detail);
    assert.ok(app.init.error.message.includes(tried), `init's error names ${tried}: ${detail}`);
    assert.match(app.init.error.message, /\b404\b/, `init's error gives the status: ${detail}`);
    t.diagnostic(`init's error: ${app.init.error.message}`);
    assert.ok(app.errors.some((e) => typeof e.message === 'string' && e.message.includes(tried)), `the error event names ${tried}: ${detail}`);
    assert.deepEqual(pageErrors, [], detail);

    // What docs/sdk.md gives as the other way: waymark.wasm copied beside the bundle.
    fs.copyFileSync(path.join(dir, 'node_modules', 'waymark', 'dist', 'waymark.wasm'), path.join(root, 'assets', 'waymark.wasm'));
    await checkBundle('esbuild + copied waymark.wasm', site);
  } finally {
    await site.close();
  }
});
