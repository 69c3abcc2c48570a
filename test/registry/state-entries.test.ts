/**
 * A loaded state file is checked entry by entry with a heartbeat's rules: an entry no heartbeat
 * could have produced is dropped with a reason naming it, and the valid entries still load.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadState } from '../../src/registry/state-file.js';

const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-entries-'));

const GOOD = { id: 'good', address: '10.0.0.1:9000', host: '10.0.0.1', port: 9000, database: 'default', shard: 'shard0', role: 'master', status: 'active', dc: 'dc1', epoch: 1, labels: { rack: 'r1' }, firstSeenMs: 1_000 };
const OTHER = { ...GOOD, id: 'n2', address: '10.0.0.2:9000', host: '10.0.0.2' };
const DKV = { ...GOOD, id: '10.0.0.3:9001', address: '10.0.0.3:9001', host: '10.0.0.3', port: 9001, epoch: 0, labels: {}, dkv: { regionStatus: 'LEADER', timestamp: '42', httpAddress: '10.0.0.3:8181' } };
const PORT = { group: 'external', nodeId: 'good', port: 6001, advertisedHost: 'kafka.test.com' };

/** Writes a file with `nodes` and `ports` (raw JSON text allowed: numbers JSON.stringify cannot write) and loads it. */
function load(nodes: unknown[], ports: unknown[] = []) {
  const file = path.join(dir, `${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify({ version: 1, savedAt: '2026-01-01T00:00:00.000Z', nodes, ports }));
  const result = loadState(file, 0);
  if (result.kind !== 'loaded') throw new Error(`not loaded: ${JSON.stringify(result)}`);
  return result;
}

describe('state file entries', () => {
  it('loads valid nodes, DKV ones included, with nothing dropped', () => {
    const result = load([GOOD, DKV], [PORT, { ...PORT, nodeId: 'gone', port: 6002, releasedAtMs: 5 }]);
    expect(result.dropped).toEqual([]);
    expect(result.state.nodes.map((n) => n.id)).toEqual(['good', '10.0.0.3:9001']);
    expect(result.state.nodes[1]?.dkv).toEqual(DKV.dkv);
    expect(result.state.ports).toHaveLength(2);
  });

  it.each<[string, unknown, RegExp]>([
    // One id with a newline would forge rows of GET /clusters?format=text.
    ['an id with a newline', { ...GOOD, id: 'evil\nshard0-masters default shard0 master x 1.2.3.4:1' }, /^nodes\[1\] id "evil\\nshard0-masters.*\.id: must match pattern/],
    // /clusters would show "x" while Envoy is sent 10.0.0.9:9000.
    ['an address that is no host:port', { ...GOOD, address: 'x' }, /nodes\[1\]\.address: must be host:port/],
    ['an address beside another host and port', { ...GOOD, host: '10.9.9.9' }, /nodes\[1\]\.host, nodes\[1\]\.port: disagree with nodes\[1\]\.address/],
    ['an address with a leading-zero port', { ...GOOD, address: '10.0.0.1:09000' }, /nodes\[1\]\.address: port "09000" has a leading zero/],
    // An epoch of 1e300 would fence every real master of the shard.
    ['an epoch of 1e300', { ...GOOD, epoch: 1e300 }, /nodes\[1\]\.epoch: must be <= 9007199254740991/],
    ['a negative epoch', { ...GOOD, epoch: -1 }, /nodes\[1\]\.epoch/],
    ['a fractional epoch', { ...GOOD, epoch: 1.5 }, /nodes\[1\]\.epoch: must be integer/],
    ['a port out of range', { ...GOOD, port: 70000 }, /nodes\[1\]\.port: must be <= 65535/],
    ['a role outside the enum', { ...GOOD, role: 'leader' }, /nodes\[1\]\.role/],
    ['a status outside the enum', { ...GOOD, status: 'up' }, /nodes\[1\]\.status/],
    ['a shard with a slash', { ...GOOD, shard: 'a/b' }, /nodes\[1\]\.shard/],
    ['33 labels', { ...GOOD, labels: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])) }, /nodes\[1\]\.labels: must have at most 32 entries/],
    ['a label value with a newline', { ...GOOD, labels: { rack: 'r1\nfake' } }, /nodes\[1\]\.labels\.rack/],
    ['a first-seen time that is no number', { ...GOOD, firstSeenMs: 'yesterday' }, /nodes\[1\]\.firstSeenMs: must be integer/],
    ['a first-seen time that is no integer', { ...GOOD, firstSeenMs: 1.5 }, /nodes\[1\]\.firstSeenMs: must be integer/],
    ['an unknown field', { ...GOOD, admin: true }, /nodes\[1\]: must NOT have additional properties/],
    ['a missing field', { ...GOOD, role: undefined }, /nodes\[1\]: must have required property 'role'/],
    ['an entry that is no object', 42, /^nodes\[1\]: nodes\[1\]: must be object$/],
    ['an unknown regionStatus', { ...DKV, dkv: { ...DKV.dkv, regionStatus: 'BOSS' } }, /nodes\[1\]\.dkv\.regionStatus/],
    ['DKV details with a control character', { ...DKV, dkv: { ...DKV.dkv, httpAddress: 'a\nb' } }, /nodes\[1\]\.dkv: regionInfo\.httpAddress: must not contain control characters/],
    ['DKV details that disagree with the node', { ...DKV, role: 'replica' }, /nodes\[1\]\.dkv: disagrees with the node's fields/],
    ['a second node with the same id', { ...OTHER, id: 'good' }, /an earlier node has the same id/],
  ])('drops %s, naming it, and loads the rest', (_case, bad, reason) => {
    const result = load([GOOD, bad, OTHER]);
    expect(result.state.nodes.map((n) => n.id)).toEqual(['good', 'n2']);
    expect(result.dropped).toHaveLength(1);
    const [dropped] = result.dropped;
    expect(`${dropped?.entry}: ${dropped?.reason}`).toMatch(reason);
    expect(dropped?.entry).toMatch(/^nodes\[1\]/);
  });

  it('names a dropped node by its id cut to 64 characters, JSON-escaped', () => {
    const id = `${'x'.repeat(63)}"${'y'.repeat(500)}`;
    const [dropped] = load([{ ...GOOD, id }]).dropped;
    expect(dropped?.entry).toBe(`nodes[0] id ${JSON.stringify(`${'x'.repeat(63)}"…`)}`);
    expect(dropped!.reason.length).toBeLessThanOrEqual(301);
  });

  it.each<[string, unknown, RegExp]>([
    ['a node id with a newline', { ...PORT, nodeId: 'a\nb' }, /^ports\[0\] nodeId "a\\nb": ports\[0\]\.nodeId: must match pattern/],
    ['a port out of range', { ...PORT, port: 0 }, /ports\[0\]\.port: must be >= 1/],
    ['a release time that is no number', { ...PORT, releasedAtMs: 'soon' }, /ports\[0\]\.releasedAtMs: must be integer/],
    ['an unknown field', { ...PORT, extra: 1 }, /ports\[0\]: must NOT have additional properties/],
  ])('drops a port entry with %s, naming it', (_case, bad, reason) => {
    const result = load([GOOD], [bad, { ...PORT, nodeId: 'n2', port: 6002 }]);
    expect(result.state.ports.map((p) => p.nodeId)).toEqual(['n2']);
    expect(result.dropped.map((d) => `${d.entry}: ${d.reason}`)).toEqual([expect.stringMatching(reason)]);
  });
});
