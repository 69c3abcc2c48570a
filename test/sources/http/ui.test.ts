/**
 * GET /ui (contract 15) as HTTP: the dashboard's files, from the package, under a policy that lets
 * the page load and fetch nothing but this server; nothing else under /ui; no token needed for the
 * files themselves (they hold no data), while the data they read stays guarded.
 * The page's behaviour in a browser: test/e2e-envoy/dashboard.test.ts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../support/app.js';
import { ROOT } from '../../support/readme.js';

const READ_TOKEN = 'ui-test-read-token-0123456789';

describe('GET /ui', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await buildTestApp({
      auth: { readToken: READ_TOKEN },
      groups: [{ name: 'edge', shards: [{ name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters'] }] }],
    });
  });

  afterAll(async () => {
    await t.app.close();
  });

  it('redirects /ui to /ui/ with a relative Location, so a path prefix in front of shardvoy is kept', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/ui' });
    expect(response.statusCode).toBe(302);
    expect(response.headers.location).toBe('ui/');
  });

  it('serves the page without a token, under a policy that allows this server only', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/ui/' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.body).toBe(readFileSync(path.join(ROOT, 'src/sources/http/ui/index.html'), 'utf8'));
    const policy = String(response.headers['content-security-policy']);
    expect(policy).toContain("default-src 'none'");
    expect(policy).toContain("script-src 'self'");
    expect(policy).toContain("connect-src 'self'");
    expect(policy).toContain("frame-ancestors 'none'");
    expect(policy).not.toMatch(/unsafe|https?:|\*/);
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['referrer-policy']).toBe('no-referrer');
  });

  it('serves its scripts and Preact and htm from their npm packages, as ES modules', async () => {
    for (const [file, source] of [
      ['dashboard.js', 'src/sources/http/ui/dashboard.js'],
      ['live.js', 'src/sources/http/ui/live.js'],
      ['model.js', 'src/sources/http/ui/model.js'],
      ['vendor/preact.mjs', 'node_modules/preact/dist/preact.mjs'],
      ['vendor/htm.mjs', 'node_modules/htm/dist/htm.mjs'],
    ] as const) {
      const response = await t.app.inject({ method: 'GET', url: `/ui/${file}` });
      expect(response.statusCode, file).toBe(200);
      expect(response.headers['content-type'], file).toBe('text/javascript; charset=utf-8');
      expect(response.body, file).toBe(readFileSync(path.join(ROOT, source), 'utf8'));
    }
    const css = await t.app.inject({ method: 'GET', url: '/ui/dashboard.css' });
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
  });

  it('imports nothing from outside: every import and link in its files is relative', () => {
    for (const file of ['index.html', 'dashboard.js', 'live.js', 'model.js', 'dashboard.css']) {
      const text = readFileSync(path.join(ROOT, 'src/sources/http/ui', file), 'utf8');
      expect(text, file).not.toMatch(/(?:src|href)="(?:https?:)?\/\//);
      expect(text, file).not.toMatch(/from\s+['"](?!\.\/)/);
      expect(text, file).not.toMatch(/@import|url\(\s*['"]?(?:https?:)?\/\//);
    }
  });

  it('answers 304 to a matching If-None-Match, and asks browsers to check again each time', async () => {
    const first = await t.app.inject({ method: 'GET', url: '/ui/dashboard.js' });
    expect(first.headers['cache-control']).toBe('no-cache');
    const etag = String(first.headers.etag);
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const again = await t.app.inject({ method: 'GET', url: '/ui/dashboard.js', headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
  });

  it('serves nothing else under /ui: no other file, no way out of its folder', async () => {
    for (const url of ['/ui/nope.js', '/ui/../package.json', '/ui/%2e%2e/package.json', '/ui/vendor/../../app.ts', '/ui/routes/ui.ts', '/ui/vendor/', '/ui//etc/passwd']) {
      const response = await t.app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(404);
      expect(response.body, url).not.toContain('"name": "shardvoy"');
    }
  });

  it('leaves what the page reads guarded by the read token', async () => {
    for (const url of ['/clusters', '/v1/xds/clients', '/metrics', '/v1/events']) {
      expect((await t.app.inject({ method: 'GET', url })).statusCode, url).toBe(401);
      const authorized = await t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${READ_TOKEN}` } });
      expect(authorized.statusCode, url).toBe(200);
    }
  });
});
