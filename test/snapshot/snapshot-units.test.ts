/**
 * The snapshot stage's small promises, one by one (found by mutation testing, test/MUTATION.md):
 * the cache's groups, no-op publishes, batched notification of many watchers, removal; the
 * consistency check's findings; duplicate names refused; an incremental update equal to a
 * build from scratch; the encoder's memo kept to what the last full build used.
 */
import { describe, expect, it } from 'vitest';
import { CLUSTER, ENDPOINT, LISTENER } from '../../src/envoy-api/type-urls.js';
import { NOTIFY_BATCH, SnapshotCache } from '../../src/snapshot/cache.js';
import { consistencyErrors } from '../../src/snapshot/consistency.js';
import { ResourceEncoder } from '../../src/snapshot/encoder.js';
import { buildSnapshot, DuplicateResourceError, updateSnapshot, withVersion, type EncodedResource, type Snapshot } from '../../src/snapshot/snapshot.js';
import { snapshotOf } from '../support/snapshots.js';
import { resourceVersionOf, setVersionOf } from '../support/version-oracle.js';

const A = { clusters: { a: ['10.0.0.1:9000'] }, listeners: { 'listen-a': [10000, 'a'] as const } };
const B = { clusters: { a: ['10.0.0.2:9000'] }, listeners: { 'listen-a': [10000, 'a'] as const } };
const resource = (typeUrl: typeof CLUSTER | typeof ENDPOINT | typeof LISTENER, name: string, bytes: number[], refs: string[] = []): EncodedResource =>
  withVersion(typeUrl, name, Uint8Array.from(bytes), refs);

describe('snapshot cache', () => {
  it('lists the groups it holds, and forgets a removed one', () => {
    const cache = new SnapshotCache();
    expect(cache.groups()).toEqual([]);
    cache.publish(snapshotOf('g1', A));
    cache.publish(snapshotOf('g2', A));
    expect(cache.groups().sort()).toEqual(['g1', 'g2']);
    cache.remove('g1');
    expect(cache.groups()).toEqual(['g2']);
    expect(cache.get('g1')).toBeUndefined();
    expect(cache.get('g2')?.group).toBe('g2');
  });

  it('publishes a new version and tells the watchers; the same version again is a no-op that tells no one', () => {
    const cache = new SnapshotCache();
    const told: string[] = [];
    cache.watch('g', (s) => told.push(s.version));
    const first = snapshotOf('g', A);
    expect(cache.publish(first)).toBe(true);
    expect(cache.publish(snapshotOf('g', A))).toBe(false); // another object, the same content
    expect(cache.get('g')).toBe(first);
    const second = snapshotOf('g', B);
    expect(cache.publish(second)).toBe(true);
    expect(told).toEqual([first.version, second.version]);
  });

  it('tells only the watchers of the group published, and none that stopped watching', () => {
    const cache = new SnapshotCache();
    const told: string[] = [];
    const stop = cache.watch('g1', () => told.push('g1'));
    cache.watch('g2', () => told.push('g2'));
    cache.publish(snapshotOf('g1', A));
    stop();
    cache.publish(snapshotOf('g1', B));
    cache.publish(snapshotOf('g2', A));
    expect(told).toEqual(['g1', 'g2']);
  });

  it(`tells ${NOTIFY_BATCH} watchers at once and the rest a batch per turn, each the newest snapshot then`, async () => {
    const cache = new SnapshotCache();
    const count = NOTIFY_BATCH * 2 + 10;
    const seen: Array<string | undefined> = Array.from({ length: count });
    for (let i = 0; i < count; i++) cache.watch('g', (s) => (seen[i] = s.version));
    const first = snapshotOf('g', A);
    cache.publish(first);
    expect(seen.filter((v) => v !== undefined)).toHaveLength(NOTIFY_BATCH);
    expect(seen.slice(0, NOTIFY_BATCH).every((v) => v === first.version)).toBe(true);
    // Published again before the late batches are told: they hear of the newest one only.
    const second = snapshotOf('g', B);
    cache.publish(second);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(seen.every((v) => v === second.version)).toBe(true);
  });
});

describe('snapshot consistency', () => {
  it('names a cluster without endpoints, endpoints of an unknown cluster, and a listener routing nowhere', () => {
    const snapshot = buildSnapshot('g', [
      resource(CLUSTER, 'lonely', [1]),
      resource(ENDPOINT, 'orphan', [2], ['ghost']),
      resource(LISTENER, 'listen-x', [3], ['nowhere']),
    ]);
    expect(consistencyErrors(snapshot)).toEqual([
      'cluster "lonely" has no load assignment',
      'load assignment "orphan" names unknown cluster "ghost"',
      'listener "listen-x" routes to unknown cluster "nowhere"',
    ]);
    expect(consistencyErrors(snapshotOf('g', A))).toEqual([]);
  });
});

describe('snapshot building', () => {
  it('refuses two resources of one type under one name, naming the group, the type and the name', () => {
    expect(() => buildSnapshot('edge', [resource(CLUSTER, 'a', [1]), resource(CLUSTER, 'a', [2])])).toThrow(DuplicateResourceError);
    expect(() => buildSnapshot('edge', [resource(CLUSTER, 'a', [1]), resource(CLUSTER, 'a', [2])])).toThrow(
      'group edge: two envoy.config.cluster.v3.Cluster resources named "a"',
    );
    // One name in two types is fine.
    expect(() => buildSnapshot('edge', [resource(CLUSTER, 'a', [1]), resource(ENDPOINT, 'a', [2], ['a'])])).not.toThrow();
  });

  it('versions a set by its members, as re-derived from names and content hashes', () => {
    const members = [resource(CLUSTER, 'a', [1, 2]), resource(CLUSTER, 'b', [3])];
    const snapshot = buildSnapshot('g', members);
    expect(members.map((m) => m.version)).toEqual([resourceVersionOf(Uint8Array.from([1, 2])), resourceVersionOf(Uint8Array.from([3]))]);
    expect(snapshot.sets[CLUSTER].version).toBe(setVersionOf(members.map((m) => [m.name, m.version] as const)));
    expect(snapshot.sets[ENDPOINT].version).toBe(setVersionOf([]));
  });

  it('updates a snapshot to exactly what a build from scratch gives, whatever the order of changes', () => {
    const a1 = resource(CLUSTER, 'a', [1]);
    const a2 = resource(CLUSTER, 'a', [9]);
    const b = resource(CLUSTER, 'b', [2]);
    const c = resource(CLUSTER, 'c', [3]);
    const e = resource(ENDPOINT, 'a', [4], ['a']);
    const before = buildSnapshot('g', [a1, b, e]);
    const expected = buildSnapshot('g', [a2, c, e]);
    const same = (s: Snapshot) => [s.version, ...([CLUSTER, ENDPOINT, LISTENER] as const).map((t) => [s.sets[t].version, [...s.sets[t].items.keys()].sort()])];

    const updated = updateSnapshot(before, { upserts: [c, a2], removals: [{ typeUrl: CLUSTER, name: 'absent' }, { typeUrl: CLUSTER, name: 'b' }] });
    expect(same(updated)).toEqual(same(expected));
    expect(updated.sets[CLUSTER].items.get('a')).toBe(a2);
    // The previous snapshot is untouched, and an unchanged type is shared, not copied.
    expect(same(before)).toEqual(same(buildSnapshot('g', [a1, b, e])));
    expect(updated.sets[ENDPOINT]).toBe(before.sets[ENDPOINT]);
    // Upserting what is already there changes nothing.
    expect(same(updateSnapshot(before, { upserts: [a1, e], removals: [] }))).toEqual(same(before));
  });
});

describe('resource encoder', () => {
  it('encodes a content once, and keeps only what the last full build used', () => {
    const encoder = new ResourceEncoder();
    let translations = 0;
    const make = (name: string) => () => {
      translations++;
      return { typeUrl: CLUSTER, name, message: { name, connect_timeout: { seconds: 1 } }, clusterRefs: [] } as never;
    };
    const problems: string[] = [];
    encoder.beginFullBuild();
    const first = encoder.encode(CLUSTER, 'a', 'k1', make('a'), problems);
    encoder.encode(CLUSTER, 'b', 'k1', make('b'), problems);
    encoder.endFullBuild();
    expect([encoder.size, translations]).toEqual([2, 2]);
    expect(encoder.encode(CLUSTER, 'a', 'k1', make('a'), problems)).toBe(first);
    expect(translations).toBe(2);

    encoder.beginFullBuild();
    encoder.encode(CLUSTER, 'a', 'k1', make('a'), problems);
    encoder.endFullBuild();
    expect(encoder.size).toBe(1); // b was not used by that build
    expect(problems).toEqual([]);
  });

  it('never memoizes a content that failed its check, and reports it every time', () => {
    const encoder = new ResourceEncoder(() => ['bad port']);
    const problems: string[] = [];
    const make = () => ({ typeUrl: CLUSTER, name: 'a', message: { name: 'a' }, clusterRefs: [] }) as never;
    encoder.encode(CLUSTER, 'a', 'k', make, problems);
    encoder.encode(CLUSTER, 'a', 'k', make, problems);
    expect(problems).toEqual(['a: bad port', 'a: bad port']);
    expect(encoder.size).toBe(0);
  });
});
