#!/usr/bin/env node
// The demo site's web server: a small static server with no dependencies.
//
//   node scripts/demo-server.mjs --port 8080 --site-key K --collector http://127.0.0.1:8787
//
// Serves demo/site/** (HTML pages get their partials pulled in and {{SITE_KEY}} and
// {{COLLECTOR_URL}} filled in), the built SDK at /waymark/waymark.js and /waymark/waymark.wasm
// (from dist/), index.html for a directory and demo/site/404.html (status 404) for anything else.
// Paths that leave the site's folder are refused; demo/site/_partials/ (and any other `_` folder or
// file) is never served as such. Every answer carries `Cache-Control: no-cache`, so an edited page
// or partial shows on reload.
//
// Partials: a line `<!-- include: NAME -->` in a page is replaced by demo/site/_partials/NAME.html
// (without its last newline, so the page reads as if the block were written in place). Partials
// may include partials. `<!-- include: NAME key=value ... -->` fills `{{key}}` in the partial (one
// block, several heading levels). `href="..."{{ARIA_CURRENT}}` in a partial becomes
// `aria-current="page"` on the link naming the page being served (a folder's link, such as
// `/blog/`, for every page in that folder) and nothing on the others: the site nav lives in one
// file, the active item still differs per page.
//
// As a module: `const { url, close } = await startDemoServer({ port, host, siteKey, collectorUrl, root })`.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_ROOT = path.join(REPO, 'demo', 'site');
const DEFAULT_DIST = path.join(REPO, 'dist');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.xml': 'application/xml; charset=utf-8',
  '.woff2': 'font/woff2',
};
// The SDK files the server hands out from dist/ (nothing else from there).
const SDK_FILES = new Set(['waymark.js', 'waymark.wasm']);

/** `pk=...` and URLs go into HTML attributes: keep them from closing the attribute. */
function attrSafe(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function fillPlaceholders(text, values) {
  return text.replaceAll('{{SITE_KEY}}', attrSafe(values.siteKey)).replaceAll('{{COLLECTOR_URL}}', attrSafe(values.collectorUrl));
}

const PARTIALS_DIR = '_partials';
// Deeper than this is a partial that includes itself, not a design.
const MAX_INCLUDE_DEPTH = 8;
const INCLUDE = /<!-- include: ([A-Za-z0-9_-]+)((?: [A-Za-z0-9_-]+=[^\s=>]+)*) -->/g;
// Lower-case names only: {{SITE_KEY}}, {{COLLECTOR_URL}} and {{ARIA_CURRENT}} are filled later.
const PARTIAL_PARAM = /\{\{([a-z][A-Za-z0-9_-]*)\}\}/g;
const ARIA_CURRENT = /href="([^"]*)"\{\{ARIA_CURRENT\}\}/g;

/**
 * `text` with every `<!-- include: NAME -->` replaced by `<root>/_partials/NAME.html`, recursively.
 * A missing partial or parameter throws: the page would otherwise be served half-built.
 */
function expandIncludes(text, root, depth = 0) {
  return text.replace(INCLUDE, (marker, name, args) => {
    if (depth >= MAX_INCLUDE_DEPTH) throw new Error(`include nesting deeper than ${MAX_INCLUDE_DEPTH} at ${marker}`);
    const params = new Map(args.trim().split(/\s+/).filter(Boolean).map((arg) => arg.split('=')));
    let body;
    try {
      body = fs.readFileSync(path.join(root, PARTIALS_DIR, `${name}.html`), 'utf8');
    } catch {
      throw new Error(`${marker}: no ${PARTIALS_DIR}/${name}.html`);
    }
    body = body.replace(/\r?\n$/, '').replace(PARTIAL_PARAM, (_, key) => {
      if (!params.has(key)) throw new Error(`${marker}: ${PARTIALS_DIR}/${name}.html needs ${key}=...`);
      return params.get(key);
    });
    return expandIncludes(body, root, depth + 1);
  });
}

/** The URL path a page file answers to: `/features.html`, `/blog/` for blog/index.html. */
function pageUrlPath(root, file) {
  const rel = path.relative(root, file).split(path.sep).join('/');
  return ('/' + rel).replace(/(^|\/)index\.html$/, '$1');
}

/** Is the link `href` the page at `pagePath`, or the folder it is in (`/blog/`, never `/`)? */
function isCurrentLink(href, pagePath) {
  return href === pagePath || (href.length > 1 && href.endsWith('/') && pagePath.startsWith(href));
}

/** A page as served: partials pulled in, the nav's active item marked, placeholders filled. */
function renderPage(root, file, text, values) {
  const pagePath = pageUrlPath(root, file);
  const html = expandIncludes(text, root)
    .replace(ARIA_CURRENT, (_, href) => `href="${href}"${isCurrentLink(href, pagePath) ? ' aria-current="page"' : ''}`);
  return Buffer.from(fillPlaceholders(html, values), 'utf8');
}

/** `_partials/` (or any `_`-named file or folder) is source for pages, not something to serve. */
function isPrivate(root, file) {
  return path.relative(root, file).split(path.sep).some((segment) => segment.startsWith('_'));
}

/** The file under `root` a URL path names, or null when it would leave `root` or is malformed. */
function resolveInside(root, urlPath) {
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  const segments = decoded.split('/');
  if (segments.some((s) => s === '..')) return null;
  const full = path.resolve(root, '.' + path.posix.normalize('/' + decoded));
  if (full !== root && !full.startsWith(root + path.sep)) return null;
  return full;
}

function statOrNull(file) {
  try {
    return fs.statSync(file);
  } catch {
    return null;
  }
}

/**
 * Starts the demo site's server. Resolves `{ url, port, close() }` once it listens
 * (`port: 0` picks a free port).
 */
export function startDemoServer(options = {}) {
  const {
    port = 8080,
    host = '127.0.0.1',
    siteKey = 'pk_demo',
    collectorUrl = 'http://127.0.0.1:8787',
    root = DEFAULT_ROOT,
    distDir = DEFAULT_DIST,
    log = null,
  } = options;
  const siteRoot = path.resolve(root);
  const dist = path.resolve(distDir);
  const values = { siteKey, collectorUrl: String(collectorUrl).replace(/\/+$/, '') };

  const send = (req, res, status, body, type) => {
    res.writeHead(status, {
      'Content-Type': type,
      'Content-Length': body.length,
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    if (log) log(`${req.method} ${req.url} ${status}`);
  };

  const sendFile = (req, res, file, status = 200) => {
    const ext = path.extname(file).toLowerCase();
    let body;
    try {
      body = fs.readFileSync(file);
    } catch {
      notFound(req, res);
      return;
    }
    // Pages under the site's folder only: dist/ has no HTML, and no partials to pull in.
    if (ext === '.html') body = renderPage(siteRoot, file, body.toString('utf8'), values);
    send(req, res, status, body, TYPES[ext] || 'application/octet-stream');
  };

  const notFound = (req, res) => {
    const page = path.join(siteRoot, '404.html');
    if (statOrNull(page)?.isFile()) {
      send(req, res, 404, renderPage(siteRoot, page, fs.readFileSync(page, 'utf8'), values), TYPES['.html']);
    } else {
      send(req, res, 404, Buffer.from('Not found\n'), TYPES['.txt']);
    }
  };

  const server = http.createServer((req, res) => {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('Allow', 'GET, HEAD');
        send(req, res, 405, Buffer.from('Method not allowed\n'), TYPES['.txt']);
        return;
      }
      let pathname;
      try {
        pathname = new URL(req.url, 'http://demo.invalid').pathname;
      } catch {
        send(req, res, 400, Buffer.from('Bad request\n'), TYPES['.txt']);
        return;
      }
      // The SDK, from dist/.
      if (pathname.startsWith('/waymark/')) {
        const name = pathname.slice('/waymark/'.length);
        if (SDK_FILES.has(name) && statOrNull(path.join(dist, name))?.isFile()) sendFile(req, res, path.join(dist, name));
        else notFound(req, res);
        return;
      }
      const file = resolveInside(siteRoot, pathname);
      if (file === null) {
        send(req, res, 403, Buffer.from('Forbidden\n'), TYPES['.txt']);
        return;
      }
      // Before the stat: /_partials would otherwise get the folder redirect.
      if (isPrivate(siteRoot, file)) {
        notFound(req, res);
        return;
      }
      const stat = statOrNull(file);
      if (stat?.isDirectory()) {
        if (!pathname.endsWith('/')) {
          // /blog -> /blog/ so that relative links inside the folder resolve.
          const url = new URL(req.url, 'http://demo.invalid');
          res.writeHead(301, { Location: `${pathname}/${url.search}`, 'Cache-Control': 'no-cache' });
          res.end();
          return;
        }
        const index = path.join(file, 'index.html');
        if (statOrNull(index)?.isFile()) sendFile(req, res, index);
        else notFound(req, res);
        return;
      }
      if (stat?.isFile()) sendFile(req, res, file);
      else notFound(req, res);
    } catch (err) {
      if (!res.headersSent) send(req, res, 500, Buffer.from('Internal error\n'), TYPES['.txt']);
      else res.destroy();
      if (log) log(`error: ${err && err.message}`);
    }
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      const shownHost = host.includes(':') ? `[${host}]` : host;
      const url = `http://${shownHost}:${address.port}`;
      resolve({
        url,
        port: address.port,
        server,
        close: () => new Promise((done) => {
          server.close(() => done());
          server.closeAllConnections?.();
        }),
      });
    });
  });
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => (inline !== undefined ? inline : argv[++i]);
    switch (flag) {
      case '--port': out.port = Number(value()); break;
      case '--host': out.host = value(); break;
      case '--site-key': out.siteKey = value(); break;
      case '--collector': out.collectorUrl = value(); break;
      case '--root': out.root = value(); break;
      case '--dist': out.distDir = value(); break;
      case '--quiet': out.quiet = true; break;
      case '--help':
      case '-h':
        out.help = true;
        break;
      default:
        throw new Error(`unknown argument ${arg} (try --help)`);
    }
  }
  return out;
}

const USAGE = `usage: node scripts/demo-server.mjs [--port 8080] [--host 127.0.0.1] [--site-key KEY]
                                  [--collector http://127.0.0.1:8787] [--root demo/site] [--dist dist] [--quiet]`;

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`demo-server: ${err.message}`);
    console.error(USAGE);
    process.exit(2);
  }
  if (args.help) {
    console.log(USAGE);
    return;
  }
  if (args.port !== undefined && (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535)) {
    console.error('demo-server: --port must be a number from 0 to 65535');
    process.exit(2);
  }
  for (const f of SDK_FILES) {
    const file = path.join(args.distDir ? path.resolve(args.distDir) : DEFAULT_DIST, f);
    if (!fs.existsSync(file)) console.error(`demo-server: warning: ${path.relative(process.cwd(), file)} is missing; build it with node scripts/build-js.mjs`);
  }
  const { quiet, help, ...options } = args;
  const demo = await startDemoServer({ ...options, log: quiet ? null : (line) => console.log(line) });
  console.log(JSON.stringify({ demo: demo.url, site_key: options.siteKey || 'pk_demo', collector: options.collectorUrl || 'http://127.0.0.1:8787' }));
  const stop = () => demo.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(`demo-server: ${err && err.message}`);
    process.exit(1);
  });
}
