/**
 * State file entries at the edges of their checks (found by mutation testing, test/MUTATION.md):
 * a port that disagrees with the address, entries that are no objects, ids at the 64-character cut,
 * times before 1970 and maintenance with extra fields, reasons at the 300-character cut.
 */
import { describe, expect, it } from 'vitest';
import { checkNodes, checkPorts } from '../../src/registry/state-entries.js';

const GOOD = { id: 'good', address: '10.0.0.1:9000', host: '10.0.0.1', port: 9000, database: 'default', shard: 'shard0', role: 'master', status: 'active', epoch: 1, labels: {}, firstSeenMs: 1_000 };

describe('state file entries at the edges', () => {
  it('drops a node whose port alone disagrees with its address', () => {
    const { nodes, dropped } = checkNodes([{ ...GOOD, port: 9001 }]);
    expect(nodes).toEqual([]);
    expect(dropped).toEqual([{ entry: 'nodes[0] id "good"', reason: 'nodes[0].host, nodes[0].port: disagree with nodes[0].address' }]);
  });

  it('names entries that are no objects by their place alone, null included', () => {
    const { dropped } = checkNodes([null, 7, 'text', GOOD]);
    expect(dropped.map((d) => d.entry)).toEqual(['nodes[0]', 'nodes[1]', 'nodes[2]']);
    const ports = checkPorts([null, ['a']]);
    expect(ports.dropped.map((d) => d.entry)).toEqual(['ports[0]', 'ports[1]']);
  });

  it('quotes an id of 64 characters whole, and cuts a longer one', () => {
    const at64 = 'a'.repeat(64);
    const at65 = 'b'.repeat(65);
    const { dropped } = checkNodes([{ ...GOOD, id: at64, port: 1 }, { ...GOOD, id: at65, port: 1 }]);
    expect(dropped.map((d) => d.entry)).toEqual([`nodes[0] id "${at64}"`, `nodes[1] id "${'b'.repeat(64)}…"`]);
  });

  it('names a dropped duplicate by its id', () => {
    const { nodes, dropped } = checkNodes([GOOD, { ...GOOD, address: '10.0.0.2:9000', host: '10.0.0.2' }]);
    expect(nodes.map((n) => n.address)).toEqual(['10.0.0.1:9000']);
    expect(dropped).toEqual([{ entry: 'nodes[1] id "good"', reason: 'an earlier node has the same id' }]);
  });

  it('drops a DKV node whose id is not its node address, though its routing fields agree', () => {
    const dkv = { ...GOOD, id: 'not-the-address', epoch: 0, dkv: { regionStatus: 'LEADER', timestamp: '42', httpAddress: '' } };
    expect(checkNodes([dkv]).dropped).toEqual([{ entry: 'nodes[0] id "not-the-address"', reason: "nodes[0].dkv: disagrees with the node's fields" }]);
    expect(checkNodes([{ ...dkv, id: GOOD.address }]).dropped).toEqual([]);
  });

  it('drops times before 1970 and maintenance with a field of its own, as the other stored objects', () => {
    const { nodes, dropped } = checkNodes([
      { ...GOOD, id: 'before-1970', firstSeenMs: -1 },
      { ...GOOD, id: 'maintenance-extra', maintenance: { reason: 'disk swap', sinceMs: 5, by: 'ops' } },
      { ...GOOD, id: 'maintenance-before-1970', maintenance: { reason: 'disk swap', sinceMs: -1 } },
      { ...GOOD, id: 'kept', firstSeenMs: 0, maintenance: { reason: 'disk swap', sinceMs: 0 } },
    ]);
    expect(nodes.map((n) => [n.id, n.firstSeenMs, n.maintenance])).toEqual([['kept', 0, { reason: 'disk swap', sinceMs: 0 }]]);
    expect(dropped).toEqual([
      { entry: 'nodes[0] id "before-1970"', reason: 'nodes[0].firstSeenMs: must be >= 0' },
      { entry: 'nodes[1] id "maintenance-extra"', reason: 'nodes[1].maintenance: must NOT have additional properties' },
      { entry: 'nodes[2] id "maintenance-before-1970"', reason: 'nodes[2].maintenance.sinceMs: must be >= 0' },
    ]);
    const released = { group: 'ext', nodeId: 'a', port: 6001, advertisedHost: 'k.example.com' };
    const ports = checkPorts([{ ...released, releasedAtMs: -1 }, { ...released, nodeId: 'b', releasedAtMs: 0 }]);
    expect(ports.ports.map((p) => [p.nodeId, p.releasedAtMs])).toEqual([['b', 0]]);
    expect(ports.dropped).toEqual([{ entry: 'ports[0] nodeId "a"', reason: 'ports[0].releasedAtMs: must be >= 0' }]);
  });

  it('keeps a dropped node’s reason to 300 characters: one of 300 whole, a longer one cut there and marked …', () => {
    // A label name with a control character is quoted in the reason: 154 characters and the name.
    const withBadLabel = (nameLength: number) => ({ ...GOOD, labels: { [`${'k'.repeat(nameLength - 1)}\u0001`]: 'v' } });
    const [atLimit, overLimit] = checkNodes([withBadLabel(146), { ...withBadLabel(147), id: 'other' }]).dropped.map((d) => d.reason);
    expect(atLimit).toMatch(/^nodes\[0\]\.labels: .*has a bad key "k{145}\u0001"$/);
    expect(atLimit).toHaveLength(300);
    // 301 characters: the closing quote is cut, and … says so.
    expect(overLimit).toMatch(/^nodes\[1\]\.labels: .*has a bad key "k{146}\u0001…$/);
    expect(overLimit).toHaveLength(301);
  });
});
