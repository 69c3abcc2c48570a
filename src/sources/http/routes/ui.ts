/**
 * GET /ui: the dashboard (contract 15). Static files only, read once at start: the page's own
 * (`../ui/`, copied next to the compiled routes by `npm run build`) and Preact and htm as the ES
 * modules their npm packages ship. The page reads the same endpoints and event stream as the
 * CLI, with the same tokens; these files hold no data, so they are served without a token.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { HttpDeps } from '../deps.js';

const UI_DIR = fileURLToPath(new URL('../ui/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/**
 * The browser may load nothing but these files and talk to nothing but this server: no CDN, no
 * inline script, no framing by another site.
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

/** URL path under /ui/ → file on disk. A fixed list: nothing else under /ui is served. */
function assetFiles(): Record<string, string> {
  const require = createRequire(import.meta.url);
  // preact's "." export is its ES module; htm's `require` export is CommonJS, its ES module sits beside it.
  const preact = require.resolve('preact');
  const htm = path.join(path.dirname(require.resolve('htm')), 'htm.mjs');
  const own = ['index.html', 'dashboard.css', 'dashboard.js', 'model.js', 'live.js'];
  return {
    ...Object.fromEntries(own.map((name) => [name, path.join(UI_DIR, name)])),
    'vendor/preact.mjs': preact,
    'vendor/htm.mjs': htm,
  };
}

function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const [name, file] of Object.entries(assetFiles())) {
    const body = readFileSync(file);
    const type = TYPES[path.extname(file)] ?? 'application/octet-stream';
    assets.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` });
  }
  return assets;
}

export const uiRoutes: FastifyPluginAsync<HttpDeps> = async (app, deps) => {
  let assets: Map<string, Asset> | undefined;
  let missing = '';
  try {
    assets = loadAssets();
  } catch (error) {
    // A broken install loses the dashboard, never the control plane.
    missing = error instanceof Error ? error.message : String(error);
    deps.logger.warn({ component: 'http', err: missing }, 'dashboard files missing: GET /ui answers 503');
  }

  const serve = (name: string, request: FastifyRequest, reply: FastifyReply) => {
    if (!assets) return reply.status(503).send({ statusCode: 503, error: 'Service Unavailable', message: `ui: dashboard files missing (${missing})` });
    const asset = assets.get(name);
    if (!asset) return reply.status(404).send({ statusCode: 404, error: 'Not Found', message: `GET ${request.url}: no such dashboard file` });
    reply.headers(SECURITY_HEADERS).header('etag', asset.etag);
    if (request.headers['if-none-match'] === asset.etag) return reply.status(304).send();
    return reply.type(asset.type).send(asset.body);
  };

  // Relative, so the page also works behind a proxy that serves shardvoy under a path prefix.
  app.get('/ui', async (_request, reply) => reply.redirect('ui/', 302));
  app.get('/ui/', async (request, reply) => serve('index.html', request, reply));
  app.get('/ui/*', async (request, reply) => serve((request.params as { '*': string })['*'], request, reply));
};
