/** Bearer tokens on every guarded endpoint: without one, with a wrong one, with the right one. */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { buildTestApp, type TestApp } from '../../support/app.js';
import { dkvClient } from '../../support/dkv-client.js';
import { startTestShardvoy } from '../../support/harness.js';

/**
 * Every route of a Fastify app as [method, path], read from Fastify's own route table
 * (printRoutes without common prefixes: one line per path, children indented four columns
 * under their parent, the methods in parentheses), so a route added without a row here is found.
 */
function routesOf(app: TestApp['app']): Array<{ method: string; url: string }> {
  const routes: Array<{ method: string; url: string }> = [];
  const paths: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    if (line.trim() === '') continue;
    const match = /^((?:│   | {4})*)(?:├── |└── )(\S+)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match) throw new Error(`a line of printRoutes this test cannot read: ${JSON.stringify(line)}`);
    const depth = [...match[1]!].length / 4;
    paths.length = depth;
    const url = (depth > 0 ? paths[depth - 1]! : '') + match[2]!;
    paths[depth] = url;
    for (const method of match[3]?.split(', ') ?? []) routes.push({ method, url });
  }
  return routes;
}

const HEARTBEAT = { id: 'n1', address: '10.0.0.1:9000', database: 'default', shard: 'shard0', role: 'master' };
const AUTH = { heartbeatTokens: ['hb-current', 'hb-next'], adminToken: 'admin-secret', readToken: 'read-secret' };

describe('authentication', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({
      auth: AUTH,
      groups: [{ name: 'local-group', advertisedHost: 'k.example.com', nodeListeners: { ports: '6001-6002' }, shards: [{ name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters'] }] }],
    });
  });
  afterAll(() => t.app.close());

  const call = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, token?: string, payload?: object) =>
    t.app.inject({ method, url, ...(payload ? { payload } : {}), headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });

  // [endpoint, method, url, body, right tokens, a token of another kind that must not open it]
  const GUARDED: Array<[string, 'GET' | 'POST' | 'PUT' | 'DELETE', string, object | undefined, string[], string]> = [
    ['heartbeat', 'POST', '/v1/heartbeat', HEARTBEAT, ['hb-current', 'hb-next'], 'admin-secret'],
    ['clusters', 'GET', '/clusters', undefined, ['read-secret', 'admin-secret'], 'hb-current'],
    ['nodes', 'GET', '/v1/nodes', undefined, ['read-secret', 'admin-secret'], 'hb-current'],
    ['one node', 'GET', '/v1/nodes/n1', undefined, ['read-secret'], 'hb-next'],
    ['xds clients', 'GET', '/v1/xds/clients', undefined, ['read-secret'], 'hb-current'],
    ['advertised', 'GET', '/v1/advertised?group=local-group', undefined, ['read-secret'], 'hb-current'],
    ['resume expiry', 'POST', '/v1/registry/resume-expiry', undefined, ['admin-secret'], 'read-secret'],
    ['delete node', 'DELETE', '/v1/nodes/n1', undefined, ['admin-secret'], 'read-secret'],
    ['client config', 'GET', '/v1/groups/local-group/client-config', undefined, ['read-secret', 'admin-secret'], 'hb-current'],
    ['envoy bootstrap', 'GET', '/v1/groups/local-group/envoy-bootstrap?xds=127.0.0.1:7979', undefined, ['read-secret', 'admin-secret'], 'hb-next'],
    ['maintenance on', 'PUT', '/v1/nodes/n1/maintenance', { reason: 'disk swap' }, ['admin-secret'], 'read-secret'],
    ['maintenance off', 'DELETE', '/v1/nodes/n1/maintenance', undefined, ['admin-secret'], 'read-secret'],
    ['events', 'GET', '/v1/events', undefined, ['read-secret', 'admin-secret'], 'hb-current'],
    // An endless Server-Sent Events stream: inject() would wait for its end, so only its 401s are checked here.
    ['event stream', 'GET', '/v1/events/stream', undefined, [], 'hb-current'],
    ['metrics', 'GET', '/metrics', undefined, ['read-secret', 'admin-secret'], 'hb-next'],
  ];
  /** The probes: open to anyone, always (README, Configuration: tokens). */
  const PROBES = ['/healthz', '/readyz'];
  /**
   * The API's description, open like the probes (README, HTTP API: reference): GET /openapi.json,
   * and Swagger UI at /docs with its assets, which must load in a browser that has no token.
   */
  const isApiDocs = (url: string) => url === '/openapi.json' || url === '/docs' || url.startsWith('/docs/');
  /** The dashboard's page and files hold no data (routes/ui.ts): the page asks for the token itself. */
  const isDashboard = (url: string) => url === '/ui' || url.startsWith('/ui/');
  const isOpen = (url: string) => PROBES.includes(url) || isApiDocs(url) || isDashboard(url);

  it.each(GUARDED)('%s: 401 without a token, with a wrong one and with another kind; served with the right one', async (_name, method, url, body, right, otherKind) => {
    const before = JSON.stringify(t.registry.list());
    for (const token of [undefined, 'wrong', `${right[0]}x`, otherKind]) {
      const response = await call(method, url, token, body);
      expect(response.statusCode, `token ${token}`).toBe(401);
      expect(response.headers['www-authenticate']).toBe('Bearer realm="shardvoy"');
      expect(response.json().message).toMatch(/^authorization: a valid Bearer token/);
      if (right[0]) expect(response.body).not.toContain(right[0]);
    }
    expect(JSON.stringify(t.registry.list())).toBe(before);
    if (method === 'DELETE') await call('POST', '/v1/heartbeat', 'hb-current', HEARTBEAT);
    for (const token of right) {
      const response = await call(method, url, token, body);
      expect(response.statusCode, `${url} with ${token}: ${response.body}`).toBe(200);
      if (method === 'DELETE') await call('POST', '/v1/heartbeat', 'hb-current', HEARTBEAT);
    }
  });

  it("finds every route in the app's own route table", () => {
    const routes = routesOf(t.app);
    // The parse found the table (a Fastify that printed it differently would fail here, not pass).
    expect(routes).toContainEqual({ method: 'POST', url: '/v1/heartbeat' });
    expect(routes).toContainEqual({ method: 'DELETE', url: '/v1/nodes/:id' });
    expect(routes).toContainEqual({ method: 'HEAD', url: '/readyz' });
  });

  it('answers 401 without a token on every route but the probes, each method, HEAD included', async () => {
    const routes = routesOf(t.app).filter((r) => !isOpen(r.url));
    const open: string[] = [];
    for (const { method, url } of routes) {
      const concrete = url.replace(/:id\b/g, 'n1').replace(/:group\b/g, 'local-group');
      expect(concrete, `a path parameter this test does not know in ${url}`).not.toContain(':');
      const body = method === 'POST' || method === 'PUT' || method === 'PATCH' ? HEARTBEAT : undefined;
      const response = await t.app.inject({ method: method as 'GET', url: concrete, ...(body ? { payload: body } : {}) });
      if (response.statusCode !== 401) open.push(`${method} ${url}: ${response.statusCode}`);
    }
    expect(open, 'routes served without a token although tokens are configured').toEqual([]);
  });

  it('has a row in the table above (its kind of token checked) for every guarded route', () => {
    const listed = new Set(GUARDED.map(([, method, url]) => `${method} ${url.split('?')[0]!.replace('/v1/nodes/n1', '/v1/nodes/:id').replace('/v1/groups/local-group/', '/v1/groups/:group/')}`));
    const unlisted = routesOf(t.app)
      .filter((r) => r.method !== 'HEAD' && !isOpen(r.url))
      .map((r) => `${r.method} ${r.url}`)
      .filter((route) => !listed.has(route));
    expect(unlisted).toEqual([]);
  });

  it('leaves the probes open, HEAD included', async () => {
    const probes = routesOf(t.app).filter((r) => PROBES.includes(r.url));
    expect(probes.map((r) => `${r.method} ${r.url}`).sort()).toEqual(['GET /healthz', 'GET /readyz', 'HEAD /healthz', 'HEAD /readyz']);
    for (const { method, url } of probes) expect((await t.app.inject({ method: method as 'GET', url })).statusCode, `${method} ${url}`).toBe(200);
  });

  it('leaves the API description open: /openapi.json and /docs with every asset, HEAD included', async () => {
    const docs = routesOf(t.app).filter((r) => isApiDocs(r.url));
    expect(docs.map((r) => `${r.method} ${r.url}`)).toEqual(expect.arrayContaining(['GET /openapi.json', 'HEAD /openapi.json', 'GET /docs', 'HEAD /docs', 'GET /docs/json']));
    for (const { method, url } of docs) {
      // The assets' wildcard (/docs/static/*; printRoutes folds its static/ into the tree): one asset.
      const concrete = url.endsWith('*') ? '/docs/static/swagger-ui-bundle.js' : url;
      const response = await t.app.inject({ method: method as 'GET', url: concrete });
      // /docs/static/index.html redirects to /docs/.
      expect([200, 302], `${method} ${concrete}`).toContain(response.statusCode);
    }
  });

  it('checks the token before the body: a bad body without a token is a 401, not a 400', async () => {
    expect((await call('POST', '/v1/heartbeat', undefined, { nonsense: true })).statusCode).toBe(401);
  });

  it('leaves health and readiness open', async () => {
    expect((await call('GET', '/healthz')).statusCode).toBe(200);
    expect((await call('GET', '/readyz')).statusCode).toBe(200);
  });
});

describe('tokens from the environment and files', () => {
  it('reads them at start, and a missing variable is a configuration error naming the key', async () => {
    const base = { groups: [{ name: 'g', shards: [{ name: 's0', listen: '0.0.0.0:10000', clusters: ['s0-masters'] }] }] };
    process.env.SHARDVOY_TEST_TOKEN = ' from-env \n';
    try {
      expect(parseConfig({ ...base, auth: { adminToken: { env: 'SHARDVOY_TEST_TOKEN' } } }).auth.adminToken).toBe('from-env');
    } finally {
      delete process.env.SHARDVOY_TEST_TOKEN;
    }
    expect(() => parseConfig({ ...base, auth: { adminToken: { env: 'SHARDVOY_TEST_TOKEN' } } })).toThrow(
      'config: auth.adminToken.env: environment variable SHARDVOY_TEST_TOKEN is not set or empty',
    );
    expect(() => parseConfig({ ...base, auth: { heartbeatTokens: [{ file: '/nonexistent/token' }] } })).toThrow(
      'config: auth.heartbeatTokens[0].file: cannot read /nonexistent/token: ENOENT',
    );
  });
});

describe('authentication of DKV nodes on the gRPC port', () => {
  it('refuses UpdateStatus without the heartbeat token and GetClusterInfo without the read token', async () => {
    const running = await startTestShardvoy({ auth: AUTH, groups: [{ name: 'g', shards: [{ name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters'] }] }] });
    const client = dkvClient(running.grpcAddress);
    const bearer = (token: string) => {
      const metadata = new grpc.Metadata();
      metadata.set('authorization', `Bearer ${token}`);
      return metadata;
    };
    try {
      const update = { regionInfo: { dcID: 'dc1', nodeAddress: '10.0.0.1:9001', database: 'default', vBucket: 'shard0', status: 'LEADER', httpAddress: '' }, timestamp: '1' };
      await expect(client.updateStatus(update)).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
      await expect(client.updateStatus(update, bearer('read-secret'))).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
      expect(running.shardvoy.registry.list()).toEqual([]);
      expect(await client.updateStatus(update, bearer('hb-next'))).toEqual({ code: 0, message: '' });
      await expect(client.getClusterInfo({}, bearer('hb-next'))).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
      expect((await client.getClusterInfo({}, bearer('read-secret'))).regionInfos.map((r) => r.nodeAddress)).toEqual(['10.0.0.1:9001']);
    } finally {
      client.close();
      await running.stop();
    }
  });
});

describe('authentication on the gRPC port, method by method', () => {
  /** Envoy's discovery methods: Envoy sends no bearer token, so they are guarded by mTLS (grpc.tls.requireClientCert) instead. */
  const DISCOVERY = /^\/envoy\.service\.(discovery|listener|cluster|endpoint|route)\.v3\.[A-Za-z]*DiscoveryService\//;

  it("answers UNAUTHENTICATED without a token on every method in the server's own table but Envoy's discovery ones", async () => {
    const running = await startTestShardvoy({ auth: AUTH, groups: [{ name: 'g', shards: [{ name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters'] }] }] });
    const client = new grpc.Client(running.grpcAddress, grpc.credentials.createInsecure());
    try {
      // grpc-js keeps every registered method in its handlers map: a method added without a guard is found.
      const handlers = (running.shardvoy.xds as unknown as { server: { handlers: Map<string, { type: string }> } }).server.handlers;
      const methods = [...handlers].map(([path, handler]) => ({ path, type: handler.type }));
      expect(methods.map((m) => m.path)).toContain('/envoy.service.status.v3.ClientStatusDiscoveryService/FetchClientStatus');
      expect(methods.map((m) => m.path)).toContain('/dkv.serverpb.DKVDiscovery/UpdateStatus');
      const bytes = (b: Buffer) => b;
      const statusOf = (path: string, type: string) =>
        new Promise<number>((resolve) => {
          const empty = Buffer.alloc(0);
          const onStatus = (call: grpc.ClientReadableStream<Buffer> | grpc.ClientDuplexStream<Buffer, Buffer>) => {
            call.on('status', (status: grpc.StatusObject) => resolve(status.code));
            call.on('data', () => call.cancel());
            call.on('error', () => undefined);
          };
          if (type === 'unary') client.makeUnaryRequest(path, bytes, bytes, empty, (error) => resolve(error?.code ?? grpc.status.OK));
          else if (type === 'serverStream') onStatus(client.makeServerStreamRequest(path, bytes, bytes, empty));
          else if (type === 'clientStream') {
            const call = client.makeClientStreamRequest(path, bytes, bytes, (error) => resolve(error?.code ?? grpc.status.OK));
            call.write(empty);
            call.end();
          } else {
            const call = client.makeBidiStreamRequest(path, bytes, bytes);
            onStatus(call);
            call.write(empty);
          }
        });
      const open: string[] = [];
      for (const { path, type } of methods.filter((m) => !DISCOVERY.test(m.path))) {
        const code = await statusOf(path, type);
        if (code !== grpc.status.UNAUTHENTICATED) open.push(`${path} (${type}): ${grpc.status[code]}`);
      }
      expect(open, 'gRPC methods served without a token although tokens are configured').toEqual([]);
    } finally {
      client.close();
      await running.stop();
    }
  });
});
