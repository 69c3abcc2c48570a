/** Bearer tokens on every guarded endpoint: without one, with a wrong one, with the right one. */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { buildTestApp, type TestApp } from '../../support/app.js';
import { dkvClient } from '../../support/dkv-client.js';
import { startTestShardvoy } from '../../support/harness.js';

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

  const call = (method: 'GET' | 'POST' | 'DELETE', url: string, token?: string, payload?: object) =>
    t.app.inject({ method, url, ...(payload ? { payload } : {}), headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });

  // [endpoint, method, url, body, right tokens, a token of another kind that must not open it]
  const GUARDED: Array<[string, 'GET' | 'POST' | 'DELETE', string, object | undefined, string[], string]> = [
    ['heartbeat', 'POST', '/v1/heartbeat', HEARTBEAT, ['hb-current', 'hb-next'], 'admin-secret'],
    ['clusters', 'GET', '/clusters', undefined, ['read-secret', 'admin-secret'], 'hb-current'],
    ['nodes', 'GET', '/v1/nodes', undefined, ['read-secret', 'admin-secret'], 'hb-current'],
    ['one node', 'GET', '/v1/nodes/n1', undefined, ['read-secret'], 'hb-next'],
    ['xds clients', 'GET', '/v1/xds/clients', undefined, ['read-secret'], 'hb-current'],
    ['advertised', 'GET', '/v1/advertised?group=local-group', undefined, ['read-secret'], 'hb-current'],
    ['resume expiry', 'POST', '/v1/registry/resume-expiry', undefined, ['admin-secret'], 'read-secret'],
    ['delete node', 'DELETE', '/v1/nodes/n1', undefined, ['admin-secret'], 'read-secret'],
  ];

  it.each(GUARDED)('%s: 401 without a token, with a wrong one and with another kind; served with the right one', async (_name, method, url, body, right, otherKind) => {
    const before = JSON.stringify(t.registry.list());
    for (const token of [undefined, 'wrong', `${right[0]}x`, otherKind]) {
      const response = await call(method, url, token, body);
      expect(response.statusCode, `token ${token}`).toBe(401);
      expect(response.headers['www-authenticate']).toBe('Bearer realm="shardvoy"');
      expect(response.json().message).toMatch(/^authorization: a valid Bearer token/);
      expect(response.body).not.toContain(right[0]);
    }
    expect(JSON.stringify(t.registry.list())).toBe(before);
    if (method === 'DELETE') await call('POST', '/v1/heartbeat', 'hb-current', HEARTBEAT);
    for (const token of right) {
      const response = await call(method, url, token, body);
      expect(response.statusCode, `${url} with ${token}: ${response.body}`).toBe(200);
      if (method === 'DELETE') await call('POST', '/v1/heartbeat', 'hb-current', HEARTBEAT);
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
