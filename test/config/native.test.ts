import { describe, expect, it } from 'vitest';
import { applyOverrides, defaultConfig, parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { expectConfigError } from './helpers.js';

/** A minimal valid native file; each test changes one thing. */
function base(): Record<string, any> {
  return {
    groups: [
      {
        name: 'local-group',
        shards: [{ name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters', 'shard0-replicas'] }],
      },
    ],
  };
}

describe('native dialect', () => {
  it('fills every default', () => {
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
        remote: [],
        pollIntervalSeconds: 5,
      },
      xds: { debounceMs: 10, maxDelayMs: 100, maxConnectionAgeSeconds: 1800, maxConnectionAgeGraceSeconds: 60, streamRequestsPerSecond: 50, streamRequestBurst: 200, fencedConnectionCloseSeconds: 1, nackRetryMaxSeconds: 300, maxRequestBytes: 1048576, maxNodeBytes: 262144, maxNodeStringLength: 8192, maxResourceNameLength: 512, maxSubscribedNames: 10000, maxStreamsPerPeer: 100, maxStreams: 10000, maxStreamsPerConnection: 32, maxRefusedStreamsPerConnection: 10, writeTimeoutSeconds: 30 },
      groups: [
        {
          name: 'local-group',
          dc: undefined,
          database: 'default',
          proxyless: false,
          advertisedHost: undefined,
          bootstrapListener: undefined,
          nodeListeners: undefined,
          shards: [
            {
              name: 'shard0',
              listen: { host: '0.0.0.0', port: 10000 },
              clusters: ['shard0-masters', 'shard0-replicas'],
              protocol: 'tcp',
            },
          ],
        },
      ],
      clusters: { 'shard0-masters': { connectTimeoutMs: 5000 }, 'shard0-replicas': { connectTimeoutMs: 5000 } },
    };
    expect(parseConfig(base())).toStrictEqual(expected);
  });

  it('takes every key it is given', () => {
    const config = parseConfig({
      http: { listen: '127.0.0.1:0' },
      grpc: { listen: '[::1]:9000' },
      registry: { leaseSeconds: 0.5, expiredRetentionSeconds: 0, portReuseSeconds: 60, stateFile: '/var/lib/shardvoy/state.json' },
      xds: { debounceMs: 0, maxDelayMs: 50, maxConnectionAgeSeconds: 60, maxConnectionAgeGraceSeconds: 5, streamRequestsPerSecond: 10, streamRequestBurst: 20, fencedConnectionCloseSeconds: 0, nackRetryMaxSeconds: 60, maxRequestBytes: 65536, maxNodeBytes: 4096, maxNodeStringLength: 100, maxResourceNameLength: 200, maxSubscribedNames: 50, maxStreamsPerPeer: 7, maxStreams: 70, maxStreamsPerConnection: 5, maxRefusedStreamsPerConnection: 3, writeTimeoutSeconds: 2.5 },
      groups: [
        {
          name: 'g1',
          dc: 'dc1',
          database: 'db1',
          shards: [
            { name: 's0', listen: '10.0.0.1:20000', clusters: ['s0-masters', 's0-slaves'], protocol: 'http2' },
            { name: 's1', listen: '0.0.0.0:20001', clusters: ['s1-replicas'], protocol: 'tcp' },
          ],
        },
        { name: 'grpc-clients', proxyless: true, shards: [{ name: 's0', clusters: ['s0-masters'] }] },
      ],
      clusters: { 's0-masters': { connectTimeout: '1m30s' }, 's1-replicas': { connectTimeout: '500ms' }, 's0-slaves': {} },
    });
    expect(config.http.listen).toEqual({ host: '127.0.0.1', port: 0 });
    expect(config.grpc.listen).toEqual({ host: '::1', port: 9000 });
    expect(config.registry).toMatchObject({ leaseSeconds: 0.5, expiredRetentionSeconds: 0, portReuseSeconds: 60, stateFile: '/var/lib/shardvoy/state.json', warmupSeconds: 0.5 });
    expect(config.xds).toEqual({ debounceMs: 0, maxDelayMs: 50, maxConnectionAgeSeconds: 60, maxConnectionAgeGraceSeconds: 5, streamRequestsPerSecond: 10, streamRequestBurst: 20, fencedConnectionCloseSeconds: 0, nackRetryMaxSeconds: 60, maxRequestBytes: 65536, maxNodeBytes: 4096, maxNodeStringLength: 100, maxResourceNameLength: 200, maxSubscribedNames: 50, maxStreamsPerPeer: 7, maxStreams: 70, maxStreamsPerConnection: 5, maxRefusedStreamsPerConnection: 3, writeTimeoutSeconds: 2.5 });
    expect(config.groups.map((g) => [g.name, g.dc, g.database, g.proxyless])).toEqual([
      ['g1', 'dc1', 'db1', false],
      ['grpc-clients', undefined, 'default', true],
    ]);
    expect(config.groups[0]?.shards[0]).toEqual({
      name: 's0',
      listen: { host: '10.0.0.1', port: 20000 },
      clusters: ['s0-masters', 's0-slaves'],
      protocol: 'http2',
    });
    expect(config.groups[1]?.shards[0]?.listen).toBeUndefined();
    // One entry per cluster name, shared by the groups that list it.
    expect(config.clusters).toEqual({
      's0-masters': { connectTimeoutMs: 90_000 },
      's0-slaves': { connectTimeoutMs: 5_000 },
      's1-replicas': { connectTimeoutMs: 500 },
    });
  });

  it('returns deeply frozen objects', () => {
    const config = parseConfig(base());
    for (const part of [config, config.http.listen, config.groups, config.groups[0], config.groups[0]?.shards[0]?.listen, config.groups[0]?.shards[0]?.clusters, config.clusters, config.clusters['shard0-masters']]) {
      expect(Object.isFrozen(part)).toBe(true);
    }
    expect(() => {
      (config.groups[0]?.shards[0]?.clusters as string[]).push('x');
    }).toThrow(TypeError);
  });

  it('does not modify the object it is given', () => {
    const input = base();
    const before = JSON.stringify(input);
    parseConfig(input);
    expect(JSON.stringify(input)).toBe(before);
    expect(Object.isFrozen(input)).toBe(false);
  });

  it('lets shards of different groups share an address (each group is its own Envoy)', () => {
    const input = base();
    input.groups.push({ ...input.groups[0], name: 'other-group' });
    expect(parseConfig(input).groups).toHaveLength(2);
  });

  it('lets a specific host reuse a port another specific host uses', () => {
    const input = base();
    input.groups[0].shards = [
      { name: 's0', listen: '10.0.0.1:10000', clusters: ['s0-masters'] },
      { name: 's1', listen: '10.0.0.2:10000', clusters: ['s1-masters'] },
    ];
    expect(parseConfig(input).groups[0]?.shards).toHaveLength(2);
  });

  it('lets an http2 shard use one port however many clusters it has', () => {
    const input = base();
    input.groups[0].shards = [
      { name: 's0', listen: '0.0.0.0:10000', clusters: ['s0-masters', 's0-replicas'], protocol: 'http2' },
      { name: 's1', listen: '0.0.0.0:10001', clusters: ['s1-masters'] },
    ];
    expect(parseConfig(input).groups[0]?.shards).toHaveLength(2);
  });
});

describe('built-in default (contract 3.3)', () => {
  it('is one group with shard0 on 0.0.0.0:10000, tcp, http 8082, grpc 7979', () => {
    const config = defaultConfig();
    expect(config.http.listen).toEqual({ host: '0.0.0.0', port: 8082 });
    expect(config.grpc.listen).toEqual({ host: '0.0.0.0', port: 7979 });
    expect(config.groups).toEqual([
      {
        name: 'local-group',
        dc: undefined,
        database: 'default',
        proxyless: false,
        shards: [
          { name: 'shard0', listen: { host: '0.0.0.0', port: 10000 }, clusters: ['shard0-masters', 'shard0-replicas'], protocol: 'tcp' },
        ],
      },
    ]);
    expect(config.clusters).toEqual({ 'shard0-masters': { connectTimeoutMs: 5000 }, 'shard0-replicas': { connectTimeoutMs: 5000 } });
    expect(Object.isFrozen(config.groups[0])).toBe(true);
  });
});

describe('applyOverrides (--http / --grpc)', () => {
  it('replaces the listen addresses and leaves the rest', () => {
    const config = defaultConfig();
    const changed = applyOverrides(config, { http: '127.0.0.1:0', grpc: '[::]:7000' });
    expect(changed.http.listen).toEqual({ host: '127.0.0.1', port: 0 });
    expect(changed.grpc.listen).toEqual({ host: '::', port: 7000 });
    expect(changed.groups).toBe(config.groups);
    expect(config.http.listen.port).toBe(8082);
    expect(Object.isFrozen(changed.http.listen)).toBe(true);
    expect(applyOverrides(config, {}).grpc.listen).toEqual({ host: '0.0.0.0', port: 7979 });
  });

  it('names the flag when its value is bad', () => {
    expectConfigError(() => applyOverrides(defaultConfig(), { http: '8082' }), '--http', /"8082" is not a valid listen address: must be host:port/);
    expectConfigError(() => applyOverrides(defaultConfig(), { grpc: 'localhost:70000' }), '--grpc', /port 70000 is outside 0\.\.65535/);
  });
});

describe('native dialect errors', () => {
  const parse = (input: unknown) => () => parseConfig(input, 'test');

  it('unknown key at the top level', () => {
    expectConfigError(parse({ ...base(), listen: '0.0.0.0:1' }), 'listen', /^unknown key; allowed keys here: http, grpc, auth, registry, xds, events, groups, clusters$/);
  });

  it('misspelt key: reports the typo, not the missing key, with a suggestion', () => {
    const { groups, ...rest } = base();
    expectConfigError(parse({ ...rest, grups: groups }), 'grups', /unknown key \(did you mean "groups"\?\)/);
  });

  it('unknown key nested in a shard', () => {
    const input = base();
    input.groups[0].shards[0].port = 10000;
    expectConfigError(parse(input), 'groups[0].shards[0].port', /unknown key; allowed keys here: name, listen, clusters, protocol/);
  });

  it('unknown key nested in clusters settings', () => {
    expectConfigError(
      parse({ ...base(), clusters: { 'shard0-masters': { connect_timeout: '1s' } } }),
      'clusters.shard0-masters.connect_timeout',
      /unknown key \(did you mean "connectTimeout"\?\)/,
    );
  });

  it('wrong type', () => {
    const input = base();
    input.groups[0].proxyless = 'yes';
    expectConfigError(parse(input), 'groups[0].proxyless', /^must be true or false, got the string "yes"$/);
    expectConfigError(parse({ ...base(), registry: { leaseSeconds: '10' } }), 'registry.leaseSeconds', /^must be a number, got the string "10"$/);
    expectConfigError(parse({ ...base(), http: '0.0.0.0:8082' }), 'http', /^must be a mapping of keys to values/);
    expectConfigError(parse({ groups: { name: 'g' } }), 'groups', /^must be a list, got a mapping$/);
  });

  it('out-of-range number', () => {
    expectConfigError(parse({ ...base(), registry: { leaseSeconds: 0 } }), 'registry.leaseSeconds', /above 0, got the number 0/);
    expectConfigError(parse({ ...base(), xds: { debounceMs: 200 } }), 'xds.maxDelayMs', /at least xds\.debounceMs \(200\)/);
    // Below the first retry's 1 s, the cap would make retries come sooner than the backoff says.
    expectConfigError(parse({ ...base(), xds: { nackRetryMaxSeconds: 0.5 } }), 'xds.nackRetryMaxSeconds', /1 or more/);
  });

  it('missing required key', () => {
    const input = base();
    delete input.groups[0].shards[0].clusters;
    expectConfigError(parse(input), 'groups[0].shards[0].clusters', /^is required$/);
  });

  it('not a mapping at all', () => {
    expectConfigError(parse(['groups']), '(root)', /must be a mapping of configuration keys, got a list/);
    expectConfigError(parse(null), '(root)', /got null/);
  });

  it('bad protocol', () => {
    const input = base();
    input.groups[0].shards[0].protocol = 'udp';
    expectConfigError(parse(input), 'groups[0].shards[0].protocol', /^must be one of "tcp", "http2", got the string "udp"$/);
  });

  it('bad group or shard name', () => {
    const input = base();
    input.groups[0].name = 'local group';
    expectConfigError(parse(input), 'groups[0].name', /1 to 64 characters of letters, digits.*got the string "local group"/);
    const long = base();
    long.groups[0].shards[0].name = 'x'.repeat(65);
    expectConfigError(parse(long), 'groups[0].shards[0].name', /1 to 64 characters/);
  });

  it('bad duration', () => {
    const at = 'clusters.shard0-masters.connectTimeout';
    const withTimeout = (connectTimeout: unknown) => ({ ...base(), clusters: { 'shard0-masters': { connectTimeout } } });
    expectConfigError(parse(withTimeout('10')), at, /"10" is not a duration \(the number 10 has no unit\); write e\.g\. "10s"/);
    expectConfigError(parse(withTimeout('10 seconds')), at, /unknown unit/);
    expectConfigError(parse(withTimeout('0s')), at, /must be greater than 0, got "0s"/);
    expectConfigError(parse(withTimeout('-1s')), at, /must be greater than 0/);
    expectConfigError(parse(withTimeout(10)), at, /must be a string, got the number 10/);
  });

  it('bad listen address', () => {
    const shardWith = (listen: string) => {
      const input = base();
      input.groups[0].shards[0].listen = listen;
      return input;
    };
    const at = 'groups[0].shards[0].listen';
    expectConfigError(parse(shardWith('10000')), at, /^"10000" is not a valid listen address: must be host:port$/);
    expectConfigError(parse(shardWith('0.0.0.0:0')), at, /port 0 is outside 1\.\.65535/);
    expectConfigError(parse(shardWith('::1:10000')), at, /IPv6 host must be in brackets/);
    expectConfigError(parse(shardWith('bad_host:1')), at, /neither an IPv4 address nor a DNS name/);
    expectConfigError(parse({ ...base(), http: { listen: '0.0.0.0:65536' } }), 'http.listen', /port 65536 is outside 0\.\.65535/);
    expectConfigError(parse({ ...base(), grpc: { listen: 'localhost' } }), 'grpc.listen', /must be host:port/);
  });

  it('shard without listen outside a proxyless group', () => {
    const input = base();
    delete input.groups[0].shards[0].listen;
    expectConfigError(parse(input), 'groups[0].shards[0].listen', /is required.*only shards of proxyless groups may omit it/);
  });

  it('duplicate group', () => {
    const input = base();
    input.groups.push(structuredClone(input.groups[0]));
    expectConfigError(parse(input), 'groups[1].name', /duplicate group name "local-group" \(already used at groups\[0\]\.name\)/);
  });

  it('duplicate shard within a group', () => {
    const input = base();
    input.groups[0].shards.push({ name: 'shard0', listen: '0.0.0.0:20000', clusters: ['shard0-slaves'] });
    expectConfigError(parse(input), 'groups[0].shards[1].name', /duplicate shard name "shard0" in group "local-group" \(already used at groups\[0\]\.shards\[0\]\.name\)/);
  });

  it('cluster name that does not belong to its shard', () => {
    const input = base();
    input.groups[0].shards[0].clusters = ['shard0-masters', 'shard1-replicas'];
    expectConfigError(parse(input), 'groups[0].shards[0].clusters[1]', /cluster "shard1-replicas" does not belong to shard "shard0": its clusters must be named shard0-masters, shard0-replicas, shard0-slaves/);
    input.groups[0].shards[0].clusters = ['shard0-leaders'];
    expectConfigError(parse(input), 'groups[0].shards[0].clusters[0]', /does not belong/);
  });

  it('duplicate cluster within a group', () => {
    const input = base();
    input.groups[0].shards[0].clusters = ['shard0-masters', 'shard0-masters'];
    expectConfigError(parse(input), 'groups[0].shards[0].clusters[1]', /duplicate cluster "shard0-masters" in group "local-group" \(already listed at groups\[0\]\.shards\[0\]\.clusters\[0\]\)/);
  });

  it('empty cluster list', () => {
    const input = base();
    input.groups[0].shards[0].clusters = [];
    expectConfigError(parse(input), 'groups[0].shards[0].clusters', /must list at least one cluster.*got an empty list/);
  });

  it('listener collision: same address', () => {
    const input = base();
    input.groups[0].shards = [
      { name: 's0', listen: '127.0.0.1:10000', clusters: ['s0-masters'], protocol: 'http2' },
      { name: 's1', listen: '127.0.0.1:10000', clusters: ['s1-masters'], protocol: 'http2' },
    ];
    expectConfigError(parse(input), 'groups[0].shards[1].listen', /listener for s1-masters on 127\.0\.0\.1:10000 collides with shard "s0"'s listener for s0-masters on 127\.0\.0\.1:10000 in group "local-group"/);
  });

  it('listener collision: a tcp shard occupies listen port + i', () => {
    const input = base();
    input.groups[0].shards.push({ name: 'shard1', listen: '0.0.0.0:10001', clusters: ['shard1-masters'] });
    // shard0's second cluster (shard0-replicas) already listens on 10001.
    expectConfigError(parse(input), 'groups[0].shards[1].listen', /listener for shard1-masters on 0\.0\.0\.0:10001 collides with shard "shard0"'s listener for shard0-replicas on 0\.0\.0\.0:10001/);
  });

  it('listener collision: 0.0.0.0 overlaps every host', () => {
    const input = base();
    input.groups[0].shards.push({ name: 'shard1', listen: '10.1.2.3:10000', clusters: ['shard1-masters'] });
    expectConfigError(parse(input), 'groups[0].shards[1].listen', /collides with shard "shard0"'s listener for shard0-masters on 0\.0\.0\.0:10000/);
  });

  it('tcp shard whose ports run past 65535', () => {
    const input = base();
    input.groups[0].shards[0].listen = '0.0.0.0:65535';
    expectConfigError(parse(input), 'groups[0].shards[0].listen', /2 clusters needs ports 65535\.\.65536, past 65535/);
  });

  it('clusters: key that no shard lists', () => {
    expectConfigError(
      parse({ ...base(), clusters: { 'shard9-masters': { connectTimeout: '1s' } } }),
      'clusters.shard9-masters',
      /unknown cluster "shard9-masters": no shard lists it; the shards list shard0-masters, shard0-replicas/,
    );
  });

  it('empty groups', () => {
    expectConfigError(parse({ groups: [] }), 'groups', /^must list at least one group, got an empty list$/);
    expectConfigError(parse({}), 'groups', /^is required$/);
  });

  it('records the source on the error', () => {
    const error = expectConfigError(parse({ groups: [] }), 'groups', /at least one group/);
    expect(error.source).toBe('test');
  });
});

describe('listener addresses', () => {
  it('refuses a host name where Envoy must bind an IP address', () => {
    expectConfigError(
      () => parseConfig({ groups: [{ name: 'g', shards: [{ name: 's0', listen: 'envoy.local:10000', clusters: ['s0-masters'] }] }] }),
      'groups[0].shards[0].listen',
      /binds an IP address, not a host name/,
    );
  });
});

describe('remote registry keys', () => {
  const groups = [{ name: 'g', shards: [{ name: 's0', listen: '0.0.0.0:10000', clusters: ['s0-masters'] }] }];
  it('reads a list of discovery servers and the poll interval', () => {
    const config = parseConfig({ registry: { remote: ['ds1:8082', '10.0.0.2:7979'], pollIntervalSeconds: 2 }, groups });
    expect(config.registry).toMatchObject({ remote: ['ds1:8082', '10.0.0.2:7979'], pollIntervalSeconds: 2 });
    expect(parseConfig({ registry: { remote: 'local' }, groups }).registry.remote).toEqual([]);
  });
  it('names a bad address in the list', () => {
    expectConfigError(() => parseConfig({ registry: { remote: ['ds1:8082', 'ds2'] }, groups }), 'registry.remote[1]', /"ds2" is not host:port/);
  });
  it('takes --poll-interval from the command line', () => {
    const config = parseConfig({ groups });
    expect(applyOverrides(config, { pollInterval: '0.5' }).registry.pollIntervalSeconds).toBe(0.5);
    expect(() => applyOverrides(config, { pollInterval: 'soon' })).toThrow('config: --poll-interval: "soon" is not a number of seconds above 0');
  });
});
