/** The operator commands' rendering and verdicts, on fixed data: tables, stable JSON, ages, problems. */
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { age, json, sortKeys, table, yaml } from '../../src/operator/render.js';
import { renderStatus, statusReport } from '../../src/operator/status.js';
import { fromMetrics, overallStatus, problems, shardSummaries, type ServerView, type XdsClient } from '../../src/operator/server-view.js';
import type { ClusterView, EndpointView } from '../../src/topology/cluster-view.js';

type TypeStatus = XdsClient['types'][string];

const endpoint = (id: string, over: Partial<EndpointView> = {}): EndpointView => ({
  id,
  address: '10.0.0.1:9001',
  dc: null,
  status: 'active',
  epoch: 1,
  health: 'healthy',
  routed: true,
  preserved: false,
  advertised: {},
  lastHeartbeatAgeMs: 100,
  maintenance: null,
  ...over,
});
const cluster = (name: string, endpoints: EndpointView[]): ClusterView => {
  const [shard, kind] = name.split('-') as [string, string];
  return { name, database: 'default', shard, role: kind === 'masters' ? 'master' : 'replica', endpoints };
};
const type = (configStatus: TypeStatus['configStatus'], over: Partial<TypeStatus> = {}): TypeStatus => ({
  subscribed: '*',
  configStatus,
  lastSentVersion: 'v2',
  lastSentNonce: '1',
  lastSentAt: undefined,
  lastAckedVersion: configStatus === 'SYNCED' ? 'v2' : 'v1',
  awaitingReplySince: undefined,
  lastNack: undefined,
  nackRetries: 0,
  nextRetryAt: undefined,
  ...over,
});
const client = (nodeId: string, types: Record<string, TypeStatus>): XdsClient => ({
  streamId: 1,
  protocol: 'sotw',
  nodeId,
  group: 'g',
  peer: '127.0.0.1:5000',
  connectedSince: '2026-01-01T00:00:00.000Z',
  types,
});

describe('tables', () => {
  it('align every column two spaces apart, in the header order, without trailing blanks; empty cells are -', () => {
    expect(table(['ID', 'NAME', 'X'], [['1', 'long-name', ''], ['22', 'n', 'x\ny']])).toBe('ID  NAME       X\n1   long-name  -\n22  n          x y\n');
  });
});

describe('JSON and YAML', () => {
  it('sort keys at every depth, keep array order, drop undefined', () => {
    const value = { b: 1, a: { d: [{ z: 1, y: 2 }], c: undefined } };
    expect(json(value)).toBe('{\n  "a": {\n    "d": [\n      {\n        "y": 2,\n        "z": 1\n      }\n    ]\n  },\n  "b": 1\n}\n');
    expect(json(value, true)).toBe('{"a":{"d":[{"y":2,"z":1}]},"b":1}\n');
    expect(parseYaml(yaml(value))).toEqual(sortKeys(value));
    expect(yaml(value)).toBe('a:\n  d:\n    - y: 2\n      z: 1\nb: 1\n');
  });
});

describe('ages', () => {
  it.each([
    [0, '0s'],
    [59_999, '59s'],
    [60_000, '1m0s'],
    [3_725_000, '1h2m'],
    [90_000_000, '1d1h'],
    [-5, '0s'],
  ])('%d ms is %s', (ms, text) => expect(age(ms)).toBe(text));
});

describe('what only /metrics says', () => {
  it('reads self-preservation and every configured group from the gauges', () => {
    const text = [
      '# HELP shardvoy_self_preservation_engaged 1 while self-preservation holds expiry, else 0.',
      'shardvoy_self_preservation_engaged 1',
      'shardvoy_xds_streams{protocol="sotw",group="b-group"} 0',
      'shardvoy_xds_streams{protocol="delta",group="a-group"} 2',
      'shardvoy_xds_streams{protocol="delta",group=""} 1',
    ].join('\n');
    expect(fromMetrics(text)).toEqual({ selfPreservation: true, groups: ['a-group', 'b-group'] });
    expect(fromMetrics('shardvoy_self_preservation_engaged 0\n')).toEqual({ selfPreservation: false, groups: [] });
  });
});

describe('problems (what check fails on)', () => {
  const view = (over: Partial<ServerView>): ServerView => ({
    readiness: { ready: true },
    clusters: { version: 'v', clusters: [] },
    clients: [],
    selfPreservation: false,
    groups: [],
    ...over,
  });

  it('none for a ready server whose shards have a routable master and whose Envoys are in sync', () => {
    const clusters = [cluster('s0-masters', [endpoint('m', { health: 'draining' })]), cluster('s0-replicas', [endpoint('r')])];
    expect(problems(view({ clusters: { version: 'v', clusters }, clients: [client('e', { cds: type('SYNCED'), eds: type('NOT_SENT') })] }))).toEqual([]);
  });

  it('names each, in a fixed order: readiness, shards, self-preservation, Envoys', () => {
    const clusters = [
      cluster('s1-masters', [endpoint('old', { health: 'fenced', epoch: 1 }), endpoint('gone', { health: 'expired' })]),
      cluster('s0-masters', []),
      cluster('s2-masters', [endpoint('p', { preserved: true })]),
    ];
    const clients = [
      client('e2', { lds: type('STALE'), cds: type('ERROR', { lastNack: { version: 'v9', message: 'bad\nlistener', at: '' } }) }),
      client('e1', { cds: type('SYNCED') }),
    ];
    expect(problems(view({ readiness: { ready: false, reason: 'warming up' }, clusters: { version: 'v', clusters }, clients, selfPreservation: true }))).toEqual([
      'not ready: warming up',
      'shard default/s0: no routable master (no master registered)',
      'shard default/s1: no routable master (masters: gone expired, old fenced)',
      'self-preservation engaged: expiry is stopped, 1 node kept routable after the lease ran out (p); POST /v1/registry/resume-expiry ends it',
      'Envoy e2 (group g, 127.0.0.1:5000): cds ERROR: rejected version v9: bad listener',
      'Envoy e2 (group g, 127.0.0.1:5000): lds STALE: sent v2, ACKed v1',
    ]);
  });

  it('a shard is one entry whatever its clusters; a stream is as bad as its worst type', () => {
    const summaries = shardSummaries([cluster('s0-replicas', [endpoint('r')]), cluster('s0-slaves', [endpoint('r')]), cluster('s0-masters', [endpoint('m')])]);
    expect(summaries.map((s) => [s.shard, s.masters.map((m) => m.id), s.replicas.map((r) => r.id)])).toEqual([['s0', ['m'], ['r']]]);
    expect(overallStatus(client('e', { cds: type('SYNCED'), lds: type('STALE') }))).toBe('STALE');
    expect(overallStatus(client('e', {}))).toBe('NOT_SENT');
  });
});

describe('the status screen in its red states', () => {
  it('says why it is not ready, lists the problems first, and the shards without a master before the others', () => {
    const clusters = [
      cluster('s0-masters', [endpoint('m0', { epoch: 4, address: '10.0.0.9:1' }), endpoint('old', { health: 'fenced', epoch: 3 })]),
      cluster('s0-replicas', [endpoint('r0', { preserved: true }), endpoint('r1', { health: 'expired' })]),
      cluster('s1-masters', [endpoint('gone', { health: 'expired' })]),
    ];
    const clients = [
      client('e1', { cds: type('SYNCED'), lds: type('ERROR', { lastNack: { version: 'v9', message: 'port in use', at: '' } }) }),
      { ...client('e2', { cds: type('SYNCED') }), streamId: 2 },
    ];
    const report = statusReport('http://sv:8082/', {
      readiness: { ready: false, reason: 'warming up: xDS answers start at 2026-01-01T00:00:10.000Z (registry.warmupSeconds)' },
      clusters: { version: 'v1', clusters },
      clients,
      selfPreservation: true,
      groups: ['g', 'lonely'],
    });
    expect(renderStatus(report, 'table')).toBe(`shardvoy http://sv:8082/: NOT READY: warming up: xDS answers start at 2026-01-01T00:00:10.000Z (registry.warmupSeconds)
PROBLEMS (4):
  not ready: warming up: xDS answers start at 2026-01-01T00:00:10.000Z (registry.warmupSeconds)
  shard default/s1: no routable master (masters: gone expired)
  self-preservation engaged: expiry is stopped, 1 node kept routable after the lease ran out (r0); POST /v1/registry/resume-expiry ends it
  Envoy e1 (group g, 127.0.0.1:5000): lds ERROR: rejected version v9: port in use
self-preservation: ENGAGED (1 node kept past their lease)
shards without a master: 1 (default/s1)
fenced nodes: 1: old (default/s0, epoch 3)
Envoys: 2 connected, 1 SYNCED, 1 ERROR; no Envoy in lonely

SHARD       MASTER  HEALTH   EPOCH  ADDRESS     REPLICAS
default/s1  NONE    -        -      -           0/0
default/s0  m0      healthy  4      10.0.0.9:1  1/2

GROUP   ENVOYS  SYNCED  STALE  NOT_SENT  ERROR
g       2       1       0      0         1
lonely  0       0       0      0         0
`);
    expect(JSON.parse(renderStatus(report, 'json'))).toEqual(sortKeys(report));
    expect(renderStatus(report, 'json', true).split('\n')).toHaveLength(2);
  });
});
