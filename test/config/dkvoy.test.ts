import { describe, expect, it } from 'vitest';
import { convertDkvoy, isDkvoyDialect } from '../../src/config/dkvoy.js';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { expectConfigError } from './helpers.js';

/** The seed's configuration, exactly as contract 3.2 shows it. */
function seed(): Record<string, unknown> {
  return {
    discoveryServerAddr: 'multi:///ds1:8082,ds2:8082',
    'dc-id': 'in-hyderabad-1',
    database: 'default',
    'local.instanceGroups': ['local-group'],
    'local.shards': ['shard0'],
    'shard0.listener_addr': '0.0.0.0:10000',
    'shard0.clusters': ['shard0-masters'],
    'shard0-masters.connect_timeout': '10s',
    appId: 'local',
  };
}

describe('dkvoy dialect', () => {
  it('parses the seed config', () => {
    const expected: Config = {
      http: { listen: { host: '0.0.0.0', port: 8082 }, tls: undefined },
      grpc: { listen: { host: '0.0.0.0', port: 7979 }, tls: undefined },
      auth: { heartbeatTokens: [], adminToken: undefined, readToken: undefined },
      registry: {
        store: 'memory',
        etcd: undefined,
        leaseSeconds: 10,
        expiredRetentionSeconds: 300,
        portReuseSeconds: 86_400,
        stateFile: undefined,
        warmupSeconds: 10,
        maxNodes: 100_000,
        selfPreservation: { enabled: true, maxExpiredFraction: 0.5, minNodes: 3 },
        remote: ['ds1:8082', 'ds2:8082'],
        pollIntervalSeconds: 5,
      },
      xds: { debounceMs: 10, maxDelayMs: 100, maxConnectionAgeSeconds: 1800, maxConnectionAgeGraceSeconds: 60, streamRequestsPerSecond: 50, streamRequestBurst: 200, fencedConnectionCloseSeconds: 1, nackRetryMaxSeconds: 300, maxRequestBytes: 1048576, maxNodeBytes: 262144, maxNodeStringLength: 8192, maxResourceNameLength: 512, maxSubscribedNames: 10000, maxStreamsPerPeer: 100, maxStreams: 10000, maxStreamsPerConnection: 32, maxRefusedStreamsPerConnection: 10, writeTimeoutSeconds: 30 },
      groups: [
        {
          name: 'local-group',
          dc: 'in-hyderabad-1',
          database: 'default',
          proxyless: false,
          advertisedHost: undefined,
          bootstrapListener: undefined,
          nodeListeners: undefined,
          shards: [{ name: 'shard0', listen: { host: '0.0.0.0', port: 10000 }, clusters: ['shard0-masters'], protocol: 'http2' }],
        },
      ],
      clusters: { 'shard0-masters': { connectTimeoutMs: 10_000 } },
    };
    expect(parseConfig(seed())).toStrictEqual(expected);
  });

  it('gives every instance group the same shards, dc and database', () => {
    const config = parseConfig({
      ...seed(),
      database: 'users',
      'local.instanceGroups': ['g1', 'g2'],
      'local.shards': ['shard0', 'shard1'],
      'shard1.listener_addr': '0.0.0.0:10001',
      'shard1.clusters': ['shard1-masters', 'shard1-slaves'],
      'shard1-slaves.connect_timeout': '1.5s',
    });
    expect(config.groups.map((g) => g.name)).toEqual(['g1', 'g2']);
    for (const group of config.groups) {
      expect(group.dc).toBe('in-hyderabad-1');
      expect(group.database).toBe('users');
      expect(group.shards.map((s) => [s.name, s.listen?.port, s.clusters, s.protocol])).toEqual([
        ['shard0', 10000, ['shard0-masters'], 'http2'],
        ['shard1', 10001, ['shard1-masters', 'shard1-slaves'], 'http2'],
      ]);
    }
    expect(config.clusters).toEqual({
      'shard0-masters': { connectTimeoutMs: 10_000 },
      'shard1-masters': { connectTimeoutMs: 5_000 },
      'shard1-slaves': { connectTimeoutMs: 1_500 },
    });
  });

  it('defaults: no dc-id (or an empty one) means no DC, no database means "default"', () => {
    const { 'dc-id': _dc, database: _db, ...rest } = seed();
    const config = parseConfig(rest);
    expect(config.groups[0]?.dc).toBeUndefined();
    expect(config.groups[0]?.database).toBe('default');
    expect(parseConfig({ ...seed(), 'dc-id': '' }).groups[0]?.dc).toBeUndefined();
  });

  it('shard names may contain dots', () => {
    const config = parseConfig({
      appId: 'app.v2',
      'app.v2.instanceGroups': ['g'],
      'app.v2.shards': ['s.0'],
      's.0.listener_addr': '127.0.0.1:10000',
      's.0.clusters': ['s.0-masters'],
      's.0-masters.connect_timeout': '2s',
    });
    expect(config.groups[0]?.shards[0]?.name).toBe('s.0');
    expect(config.clusters['s.0-masters']).toEqual({ connectTimeoutMs: 2_000 });
  });

  it('follows the discovery servers discoveryServerAddr names; local or empty means the own registry', () => {
    expect(parseConfig(seed()).registry.remote).toEqual(['ds1:8082', 'ds2:8082']);
    expect(parseConfig({ ...seed(), discoveryServerAddr: 'local' }).registry.remote).toEqual([]);
    expect(parseConfig({ ...seed(), discoveryServerAddr: '' }).registry.remote).toEqual([]);
    const { discoveryServerAddr: _d, ...rest } = seed();
    expect(parseConfig(rest).registry.remote).toEqual([]);
  });

  it('is told apart from the native dialect by its keys', () => {
    expect(isDkvoyDialect({ appId: 'x' })).toBe(true);
    expect(isDkvoyDialect({ discoveryServerAddr: '' })).toBe(true);
    expect(isDkvoyDialect({ 'dc-id': 'dc1' })).toBe(true);
    expect(isDkvoyDialect({ 'a.b': 1 })).toBe(true);
    expect(isDkvoyDialect({ groups: [], http: {}, database: 'x' })).toBe(false);
  });
});

describe('dkvoy dialect errors', () => {
  const parse = (changes: Record<string, unknown>) => () => {
    const input: Record<string, unknown> = { ...seed(), ...changes };
    for (const [key, value] of Object.entries(changes)) if (value === undefined) delete input[key];
    return parseConfig(input);
  };

  it('unknown key', () => {
    expectConfigError(parse({ 'shard0.listen_addr': '0.0.0.0:1' }), 'shard0.listen_addr', /unknown key \(did you mean "shard0\.listener_addr"\?\); dkvoy keys are appId/);
    expectConfigError(parse({ dcId: 'x' }), 'dcId', /unknown key \(did you mean "dc-id"\?\)/);
    expectConfigError(parse({ 'other.instanceGroups': ['g'] }), 'other.instanceGroups', /appId is "local", so this must be "local\.instanceGroups"/);
    expectConfigError(parse({ 'shard7.listener_addr': '0.0.0.0:1' }), 'shard7.listener_addr', /"shard7" is not a shard listed in local\.shards/);
    expectConfigError(parse({ 'shard0-replicas.connect_timeout': '1s' }), 'shard0-replicas.connect_timeout', /"shard0-replicas" is not a cluster listed in any <shard>\.clusters/);
  });

  it('shard without listener_addr', () => {
    expectConfigError(parse({ 'shard0.listener_addr': undefined }), 'shard0.listener_addr', /^is required: the address shard "shard0"'s listener binds/);
  });

  it('shard without clusters', () => {
    expectConfigError(parse({ 'shard0.clusters': undefined }), 'shard0.clusters', /^is required/);
  });

  it('missing appId, groups or shards', () => {
    expectConfigError(parse({ appId: undefined }), 'appId', /is required in the dkvoy dialect/);
    expectConfigError(parse({ 'local.instanceGroups': undefined }), 'local.instanceGroups', /is required/);
    expectConfigError(parse({ 'local.shards': undefined }), 'local.shards', /is required/);
  });

  it('wrong types', () => {
    expectConfigError(parse({ 'shard0.clusters': 'shard0-masters' }), 'shard0.clusters', /^must be a list of strings, got the string "shard0-masters"$/);
    expectConfigError(parse({ 'local.shards': ['shard0', 7] }), 'local.shards[1]', /^must be a string, got the number 7$/);
    expectConfigError(parse({ 'shard0.listener_addr': 10000 }), 'shard0.listener_addr', /must be a string, got the number 10000/);
    expectConfigError(parse({ appId: 3 }), 'appId', /must be a string/);
  });

  it('empty instanceGroups', () => {
    expectConfigError(parse({ 'local.instanceGroups': [] }), 'local.instanceGroups', /must list at least one group/);
  });

  it('bad names and values are reported at the dkvoy key', () => {
    expectConfigError(parse({ 'local.instanceGroups': ['ok', 'not ok'] }), 'local.instanceGroups[1]', /1 to 64 characters/);
    expectConfigError(parse({ 'dc-id': 'in hyderabad' }), 'dc-id', /1 to 64 characters/);
    expectConfigError(parse({ database: '' }), 'database', /1 to 64 characters/);
    expectConfigError(parse({ 'shard0.listener_addr': '0.0.0.0' }), 'shard0.listener_addr', /"0\.0\.0\.0" is not a valid listen address/);
    expectConfigError(parse({ 'shard0.clusters': ['shard1-masters'], 'shard0-masters.connect_timeout': undefined }), 'shard0.clusters[0]', /does not belong to shard "shard0"/);
    expectConfigError(parse({ 'shard0-masters.connect_timeout': '10' }), 'shard0-masters.connect_timeout', /has no unit/);
    expectConfigError(parse({ 'shard0-masters.connect_timeout': 10 }), 'shard0-masters.connect_timeout', /must be a string/);
  });

  it('duplicate shard and duplicate group', () => {
    expectConfigError(parse({ 'local.shards': ['shard0', 'shard0'] }), 'local.shards[1]', /duplicate shard name "shard0".*already used at local\.shards\[0\]/);
    expectConfigError(parse({ 'local.instanceGroups': ['g', 'g'] }), 'local.instanceGroups[1]', /duplicate group name "g".*already used at local\.instanceGroups\[0\]/);
  });

  it('two shards on one listener address', () => {
    expectConfigError(
      parse({ 'local.shards': ['shard0', 'shard1'], 'shard1.listener_addr': '127.0.0.1:10000', 'shard1.clusters': ['shard1-masters'] }),
      'shard1.listener_addr',
      /listener for shard1-masters on 127\.0\.0\.1:10000 collides with shard "shard0"'s listener/,
    );
  });

  it('bad discoveryServerAddr', () => {
    expectConfigError(parse({ discoveryServerAddr: 'ds1:8082' }), 'discoveryServerAddr', /must be "multi:\/\/\/host:port,host:port,\.\.\.", "local" or empty/);
    expectConfigError(parse({ discoveryServerAddr: 'multi:///ds1:8082,ds2' }), 'discoveryServerAddr', /address 2 of the list, "ds2": must be host:port/);
    expectConfigError(parse({ discoveryServerAddr: 42 }), 'discoveryServerAddr', /must be a string/);
  });
});
