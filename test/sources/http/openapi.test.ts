/**
 * GET /openapi.json and GET /docs (contract 15): the document is valid OpenAPI 3, names every
 * route the app registers (but Swagger UI's own, listed), and is kept as a golden copy,
 * test/golden/openapi.json (UPDATE_GOLDEN=1 rewrites it, test/support/golden-files.ts); /docs
 * loads nothing from another host. That every response the HTTP tests receive matches it is
 * checked by test/support/openapi-check.ts, on every app test/support/app.ts builds.
 */
import path from 'node:path';
import { validate, compileErrors } from '@readme/openapi-parser';
import type { RouteOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOCS_CSP, hiddenFromDocument } from '../../../src/sources/http/openapi.js';
import { VERSION } from '../../../src/version.js';
import { buildTestApp, type TestApp } from '../../support/app.js';
import { GoldenFiles, updateRequested } from '../../support/golden-files.js';
import { checkerFor, openApiPath, problemsOf } from '../../support/openapi-check.js';
import { ROOT } from '../../support/readme.js';

const GOLDEN_FILE = path.join(ROOT, 'test', 'golden', 'openapi.json');
const golden = new GoldenFiles(updateRequested(), ROOT);

/**
 * Routes not in the document: Swagger UI's (@fastify/swagger-ui marks them hidden: the page, its
 * assets, its copies of the document) and the dashboard's (openapi.ts, hiddenFromDocument).
 */
const HIDDEN = [
  'GET /ui',
  'GET /ui/',
  'GET /ui/*',
  'GET /docs',
  'GET /docs/json',
  'GET /docs/yaml',
  'GET /docs/static/*',
  'GET /docs/static/index.html',
  'GET /docs/static/swagger-initializer.js',
];

let t: TestApp;
let doc: any;
const routes: Array<{ method: string; url: string; hidden: boolean }> = [];

beforeAll(async () => {
  // The route table as Fastify builds it, seen by an onRoute hook.
  t = await buildTestApp(undefined, {
    beforeRoutes: (app) =>
      app.addHook('onRoute', (route: RouteOptions) => {
        for (const method of [route.method].flat()) routes.push({ method, url: route.url, hidden: (route.schema as { hide?: boolean } | undefined)?.hide === true || hiddenFromDocument(route.url) });
      }),
  });
  const response = await t.app.inject({ method: 'GET', url: '/openapi.json' });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
  doc = response.json();
});
afterAll(async () => {
  await t.app.close();
  const report = golden.report();
  if (report) console.log(report);
});

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const result = await validate(structuredClone(doc));
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
    expect(result.warnings).toEqual([]);
  });

  it('names this version and says which token each route asks for', () => {
    expect(doc.info.version).toBe(VERSION);
    expect(doc.paths['/v1/heartbeat'].post.security).toEqual([{ heartbeatToken: [] }]);
    expect(doc.paths['/clusters'].get.security).toEqual([{ readToken: [] }, { adminToken: [] }]);
    expect(doc.paths['/v1/nodes/{id}'].delete.security).toEqual([{ adminToken: [] }]);
    for (const open of ['/healthz', '/readyz', '/openapi.json']) expect(doc.paths[open].get.security, open).toBeUndefined();
  });

  it('has every route the app registers, but Swagger UI’s own (hidden, listed here)', () => {
    // Fastify adds a HEAD route to each GET; the document lists the GET. (Of /docs and /docs/,
    // both served, Fastify reports the GET once, as /docs.)
    const heads = routes.filter((r) => r.method === 'HEAD' && !r.hidden).map((r) => r.url);
    for (const url of heads) expect(routes, `HEAD ${url} without its GET`).toContainEqual(expect.objectContaining({ method: 'GET', url }));
    const registered = routes.filter((r) => r.method !== 'HEAD');
    expect(registered.filter((r) => r.hidden).map((r) => `${r.method} ${r.url}`).sort()).toEqual([...HIDDEN].sort());

    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${p}`));
    const expected = registered.filter((r) => !r.hidden).map((r) => `${r.method} ${openApiPath(r.url)}`);
    expect(documented.sort()).toEqual(expected.sort());
    // The parse found the routes (an app that registered none would pass the comparison above).
    expect(documented).toContain('POST /v1/heartbeat');
    expect(documented).toContain('PUT /v1/nodes/{id}/maintenance');
  });

  it('lists for each route the error shape, 401 where it is guarded and 500 everywhere', () => {
    for (const [p, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [method, operation] of Object.entries(item)) {
        const where = `${method} ${p}`;
        expect(Object.keys(operation.responses).filter((code) => code.startsWith('2')), where).not.toEqual([]);
        expect(operation.responses['500']?.content['application/json'].schema, where).toEqual({ $ref: '#/components/schemas/Error' });
        if (operation.security) expect(operation.responses['401'].headers['WWW-Authenticate'], where).toBeDefined();
        else expect(operation.responses['401'], where).toBeUndefined();
        for (const [code, answer] of Object.entries(operation.responses as Record<string, any>)) {
          if (Number(code) >= 400) expect(answer.content['application/json'].schema, `${where} ${code}`).toEqual({ $ref: '#/components/schemas/Error' });
        }
      }
    }
    expect(doc.components.schemas.Error.required).toEqual(['statusCode', 'error', 'message']);
    const heartbeat = doc.paths['/v1/heartbeat'].post.responses;
    expect(Object.keys(heartbeat)).toEqual(['200', '400', '401', '409', '413', '415', '429', '500', '503']);
    expect(heartbeat['503'].headers['Retry-After'].schema).toEqual(expect.objectContaining({ type: 'integer' }));
  });

  it('matches test/golden/openapi.json', () => {
    // The version changes at each release without changing the API: kept out of the golden.
    const comparable = { ...doc, info: { ...doc.info, version: '<version>' } };
    if (golden.update) return golden.write(GOLDEN_FILE, comparable);
    const expected = golden.expected(GOLDEN_FILE);
    expect(expected, `${GOLDEN_FILE} is missing; run with UPDATE_GOLDEN=1`).toBeDefined();
    expect(comparable).toEqual(expected);
  });

  it('is the document Swagger UI reads', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/docs/json' })).json()).toEqual(doc);
  });
});

describe('the response check (test/support/openapi-check.ts)', () => {
  const checker = () => checkerFor(doc);
  const base = { method: 'GET', hidden: false, headers: { 'content-type': 'application/json; charset=utf-8' } };

  it('finds an undocumented status, a wrong body, a missing header and a wrong content-type', () => {
    expect(problemsOf(checker(), { ...base, route: '/healthz', statusCode: 200, payload: '{"status":"ok"}' })).toEqual([]);
    expect(problemsOf(checker(), { ...base, route: '/healthz', statusCode: 418, payload: '{}' })[0]).toMatch(/^status 418 is not among those the document lists/);
    expect(problemsOf(checker(), { ...base, route: '/healthz', statusCode: 200, payload: '{"status":"fine"}' })[0]).toMatch(/must be equal to one of the allowed values|must be equal to constant/);
    expect(problemsOf(checker(), { ...base, method: 'POST', route: '/v1/heartbeat', statusCode: 503, payload: '{"statusCode":503,"error":"Service Unavailable","message":"x"}' })).toEqual([
      'header Retry-After (documented for 503) was not sent',
    ]);
    expect(problemsOf(checker(), { ...base, route: '/metrics', statusCode: 200, payload: '# HELP' })[0]).toMatch(/^content-type application\/json; charset=utf-8 is not among/);
    expect(problemsOf(checker(), { ...base, route: '/nowhere', statusCode: 200, payload: '{}' })).toEqual(['GET /nowhere is not in the document']);
    expect(problemsOf(checker(), { ...base, route: undefined, statusCode: 404, payload: '{"statusCode":404,"error":"Not Found"}' })[0]).toMatch(/message/);
  });
});

describe('GET /docs', () => {
  /** Absolute URLs in Swagger UI's bundle that are text, never fetched: spec and RFC links, XML namespaces, examples in its code. */
  const TEXT_ONLY_HOSTS = new Set([
    'base', // new URL(path, "https://base"): a placeholder to resolve relative paths against
    'datatracker.ietf.org',
    'example.com',
    'fb.me',
    'github.com',
    'instagram.com',
    'json-schema.org',
    'reactjs.org',
    'redux.js.org',
    'soundcloud.com',
    'spdx.org',
    'spec.openapis.org',
    'stackoverflow.com',
    'swagger.io',
    'twitter.com',
    'validator.swagger.io', // the validator badge: off, the initializer sets validatorUrl null (checked below)
    'vladimirgorej.com',
    'www.facebook.com',
    'www.rfc-editor.org',
    'www.tiktok.com',
    'www.w3.org',
  ]);
  const hostsIn = (text: string) => new Set([...text.matchAll(/https?:\/\/([A-Za-z0-9.-]+)/g)].map((m) => m[1]!));

  it('serves Swagger UI whose every asset comes from this server, under a policy that allows no other host', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/docs' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toBe(DOCS_CSP);
    expect(DOCS_CSP).not.toMatch(/https?:|\*/);
    expect(page.body).toContain('<div id="swagger-ui">');
    expect(page.body, 'an absolute URL in the page').not.toMatch(/https?:\/\/|["']\/\//);

    const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets).toEqual(expect.arrayContaining(['/docs/static/swagger-ui.css', '/docs/static/swagger-ui-bundle.js', '/docs/static/swagger-initializer.js']));
    for (const asset of assets) {
      expect(asset, 'an asset from elsewhere').toMatch(/^\/docs\/static\/[A-Za-z0-9._-]+$/);
      const response = await t.app.inject({ method: 'GET', url: asset });
      expect(response.statusCode, asset).toBe(200);
      expect(response.headers['content-security-policy'], asset).toBe(DOCS_CSP);
      if (!/\.(js|css)$/.test(asset)) continue;
      const text = response.body;
      if (asset.endsWith('.css')) {
        // Stylesheets load only data: URLs (their images) and import nothing.
        for (const [, target] of text.matchAll(/url\(\s*["']?([^"')]*)/g)) expect(target, `${asset}: url(${target?.slice(0, 40)})`).toMatch(/^data:/);
        expect(text).not.toContain('@import');
      }
      const unknown = [...hostsIn(text)].filter((host) => !TEXT_ONLY_HOSTS.has(host));
      expect(unknown, `${asset}: hosts not known to be text only; check what the new Swagger UI does with them`).toEqual([]);
    }

    const initializer = (await t.app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' })).body;
    expect(initializer).toContain('validatorUrl: null');
    expect(initializer).toContain("url: resolveUrl('./json')");
  });

  it('answers a missing asset with the API’s 404', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/docs/static/nothing-here.js' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ statusCode: 404, error: 'Not Found', message: 'GET /docs/static/nothing-here.js: no such endpoint' });
  });
});
