/** Group keys for reaching nodes from another network: advertisedHost, bootstrapListener, nodeListeners. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { expectConfigError } from './helpers.js';

const group = (extra: Record<string, unknown>) => ({ groups: [{ name: 'external', database: 'default', shards: [], ...extra }] });
const parse = (extra: Record<string, unknown>) => () => parseConfig(group(extra));

describe('reaching nodes from another network', () => {
  it('reads the PrivateLink layout: a bootstrap port and one port per broker', () => {
    const config = parseConfig(group({ advertisedHost: 'kafka.test.com', bootstrapListener: '0.0.0.0:9091', nodeListeners: { ports: '6001-6003' } }));
    expect(config.groups[0]).toMatchObject({
      shards: [],
      advertisedHost: 'kafka.test.com',
      bootstrapListener: { host: '0.0.0.0', port: 9091 },
      nodeListeners: { listenHost: '0.0.0.0', frontEnds: [{ advertisedHost: 'kafka.test.com', firstPort: 6001, lastPort: 6003 }] },
    });
  });

  it('reads several front ends, each with its own host and range', () => {
    const config = parseConfig(
      group({
        nodeListeners: {
          listenHost: '10.1.0.5',
          ports: [
            { advertisedHost: 'lb-1.example.com', ports: '6001-6050' },
            { advertisedHost: 'lb-2.example.com', ports: '6051-6100' },
          ],
        },
      }),
    );
    expect(config.groups[0]!.nodeListeners).toEqual({
      listenHost: '10.1.0.5',
      frontEnds: [
        { advertisedHost: 'lb-1.example.com', firstPort: 6001, lastPort: 6050 },
        { advertisedHost: 'lb-2.example.com', firstPort: 6051, lastPort: 6100 },
      ],
    });
  });

  it.each([
    ['a range that is not one', { advertisedHost: 'k.example.com', nodeListeners: { ports: '6001..6003' } }, 'groups[0].nodeListeners.ports', /not a port range/],
    ['a reversed range', { advertisedHost: 'k.example.com', nodeListeners: { ports: '6003-6001' } }, 'groups[0].nodeListeners.ports', /ends before it starts/],
    ['a range past 65535', { advertisedHost: 'k.example.com', nodeListeners: { ports: '65530-65540' } }, 'groups[0].nodeListeners.ports', /outside 1\.\.65535/],
    ['node listeners with no host to advertise', { nodeListeners: { ports: '6001-6003' } }, 'groups[0].advertisedHost', /is required/],
    ['a front end with no host', { nodeListeners: { ports: [{ ports: '6001-6002' }] } }, 'groups[0].nodeListeners.ports[0].advertisedHost', /is required/],
    ['a front end with an unknown key', { nodeListeners: { ports: [{ advertisedHost: 'a.example.com', ports: '1-2', weight: 1 }] } }, 'groups[0].nodeListeners.ports[0].weight', /unknown key/],
    ['an empty list of front ends', { nodeListeners: { ports: [] } }, 'groups[0].nodeListeners.ports', /at least one front end/],
    ['a bad advertised host', { advertisedHost: 'kafka_test!', nodeListeners: { ports: '6001' } }, 'groups[0].advertisedHost', /neither an IP address nor a DNS name/],
    ['a host name as listenHost', { advertisedHost: 'k.example.com', nodeListeners: { listenHost: 'envoy.local', ports: '6001' } }, 'groups[0].nodeListeners.listenHost', /binds an IP address/],
    ['a host name as bootstrap listener', { bootstrapListener: 'envoy.local:9091' }, 'groups[0].bootstrapListener', /binds an IP address/],
    ['a bootstrap port inside the node ports', { advertisedHost: 'k.example.com', bootstrapListener: '0.0.0.0:6002', nodeListeners: { ports: '6001-6003' } }, 'groups[0].nodeListeners.ports', /collides with the bootstrap listener/],
    [
      'two front ends sharing ports',
      { nodeListeners: { ports: [{ advertisedHost: 'a.example.com', ports: '6001-6050' }, { advertisedHost: 'b.example.com', ports: '6050-6100' }] } },
      'groups[0].nodeListeners.ports[1].ports',
      /6050 collides with the node listeners of a\.example\.com/,
    ],
    ['a group with neither shards nor node or bootstrap listeners', {}, 'groups[0].shards', /at least one shard/],
  ])('refuses %s', (_name, extra, keyPath, reason) => {
    expectConfigError(parse(extra), keyPath, reason);
  });

  it('refuses node ports that collide with a shard listener', () => {
    expectConfigError(
      () =>
        parseConfig({
          groups: [
            {
              name: 'external',
              advertisedHost: 'k.example.com',
              shards: [{ name: 'shard0', listen: '0.0.0.0:6001', clusters: ['shard0-masters'] }],
              nodeListeners: { ports: '6000-6010' },
            },
          ],
        }),
      'groups[0].nodeListeners.ports',
      /6001 collides with shard "shard0"'s listener for shard0-masters/,
    );
  });

  it('refuses node listeners on a proxyless group', () => {
    expectConfigError(
      () => parseConfig({ groups: [{ name: 'g', proxyless: true, advertisedHost: 'k.example.com', shards: [], nodeListeners: { ports: '6001' } }] }),
      'groups[0].nodeListeners',
      /proxyless group gets no TCP listeners/,
    );
  });
});

describe('names reserved for per-node and bootstrap resources', () => {
  it.each(['bootstrap', 'node-a'])('refuses a shard named %s in a group with node listeners', (name) => {
    expectConfigError(
      () => parseConfig(group({ advertisedHost: 'k.example.com', nodeListeners: { ports: '6001' }, shards: [{ name, listen: '0.0.0.0:10000', clusters: [`${name}-masters`], protocol: 'http2' }] })),
      'groups[0].shards[0].name',
      /is reserved in a group with nodeListeners/,
    );
  });
});
