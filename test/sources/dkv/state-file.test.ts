/** A DKV node saved to the state file and restored keeps what it last reported, regionStatus first. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryRegistry } from '../../../src/registry/memory-registry.js';
import { writeAtomically } from '../../../src/registry/atomic-write.js';
import { loadState, serializeState } from '../../../src/registry/state-file.js';
import type { RegistryState } from '../../../src/registry/registry.js';
import { startDkvServer, type DkvFixture } from '../../support/dkv-client.js';
import { FakeClock } from '../../support/fake-clock.js';
import { heartbeat } from '../../support/heartbeats.js';

const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-dkv-state-'));

function loaded(file: string, nowMs: number): RegistryState {
  const result = loadState(file, nowMs);
  if (result.kind !== 'loaded') throw new Error(`state not loaded: ${JSON.stringify(result)}`);
  return result.state;
}

describe('DKV nodes in the state file', () => {
  const fixtures: DkvFixture[] = [];
  afterEach(async () => {
    for (const f of fixtures.splice(0)) await f.close();
  });

  it('a restored DKV node keeps its regionStatus and details, and GetClusterInfo answers with them', async () => {
    const first = await startDkvServer();
    fixtures.push(first);
    await first.client.updateStatus({
      regionInfo: { dcID: 'dc1', nodeAddress: '10.0.0.2:9001', database: 'default', vBucket: 'vb3', status: 'PRIMARY_FOLLOWER', masterHost: '10.0.0.1:9001', nexusClusterUrl: 'http://nexus:9020', httpAddress: '10.0.0.2:8181' },
      timestamp: '18446744073709551615',
    });
    await first.client.updateStatus({ regionInfo: { dcID: 'dc2', nodeAddress: '10.0.0.3:9001', database: 'default', vBucket: 'vb3', status: 'SECONDARY_FOLLOWER' }, timestamp: '7' });
    first.registry.record(heartbeat({ id: 'http-1', address: '10.0.0.9:9001', role: 'master' }));
    const file = path.join(dir, 'dkv.json');
    writeAtomically(file, serializeState(first.registry.state(), first.clock.now()));

    const saved = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Array<{ id: string; dkv?: unknown }> };
    expect(saved.nodes.find((n) => n.id === '10.0.0.2:9001')?.dkv).toEqual({
      regionStatus: 'PRIMARY_FOLLOWER', timestamp: '18446744073709551615', httpAddress: '10.0.0.2:8181', masterHost: '10.0.0.1:9001', nexusClusterUrl: 'http://nexus:9020',
    });
    expect(saved.nodes.find((n) => n.id === 'http-1')).not.toHaveProperty('dkv');

    // Restarted an hour later: a fresh registry, restored, served again.
    const clock = new FakeClock(first.clock.now() + 3_600_000);
    const registry = new MemoryRegistry({ leaseSeconds: 10, expiredRetentionSeconds: 300, clock });
    registry.restore(loaded(file, clock.now()));
    expect(registry.get('10.0.0.2:9001')).toMatchObject({ role: 'master', dc: 'dc1', shard: 'vb3', dkv: { regionStatus: 'PRIMARY_FOLLOWER', timestamp: '18446744073709551615' } });
    expect(registry.get('http-1')?.dkv).toBeUndefined();
    const second = await startDkvServer({ clock, registry });
    fixtures.push(second);
    const { regionInfos } = await second.client.getClusterInfo({ database: 'default' });
    expect(regionInfos).toEqual([
      { dcID: 'dc1', nodeAddress: '10.0.0.2:9001', database: 'default', vBucket: 'vb3', status: 'PRIMARY_FOLLOWER', masterHost: '10.0.0.1:9001', nexusClusterUrl: 'http://nexus:9020', httpAddress: '10.0.0.2:8181' },
      { dcID: 'dc2', nodeAddress: '10.0.0.3:9001', database: 'default', vBucket: 'vb3', status: 'SECONDARY_FOLLOWER', httpAddress: '' },
      { dcID: '', nodeAddress: '10.0.0.9:9001', database: 'default', vBucket: 'shard0', status: 'LEADER', httpAddress: '' },
    ]);
  });

  it('an INACTIVE DKV node is restored inactive, with its role', () => {
    const clock = new FakeClock();
    const registry = new MemoryRegistry({ leaseSeconds: 10, expiredRetentionSeconds: 300, clock });
    registry.record(heartbeat({ id: '10.0.0.4:9001', address: '10.0.0.4:9001', role: 'master', status: 'inactive', dkv: { regionStatus: 'INACTIVE', timestamp: '0', httpAddress: '' } }));
    const file = path.join(dir, 'inactive.json');
    writeAtomically(file, serializeState(registry.state(), clock.now()));
    const restored = new MemoryRegistry({ leaseSeconds: 10, expiredRetentionSeconds: 300, clock });
    restored.restore(loaded(file, clock.now()));
    expect(restored.get('10.0.0.4:9001')).toMatchObject({ role: 'master', status: 'inactive', dkv: { regionStatus: 'INACTIVE' } });
  });

  it('a file from before DKV details loads; a node with an unknown regionStatus is dropped', () => {
    const node = { id: 'a', address: '10.0.0.1:1', host: '10.0.0.1', port: 1, database: 'default', shard: 's', role: 'master', status: 'active', epoch: 0, labels: {}, firstSeenMs: 0 };
    const old = path.join(dir, 'old.json');
    writeFileSync(old, JSON.stringify({ version: 1, savedAt: 'x', nodes: [node], ports: [] }));
    expect(loaded(old, 0).nodes[0]?.dkv).toBeUndefined();

    const bad = path.join(dir, 'bad-dkv.json');
    writeFileSync(bad, JSON.stringify({ version: 1, savedAt: 'x', nodes: [{ ...node, dkv: { regionStatus: 'BOSS', timestamp: '1', httpAddress: '' } }], ports: [] }));
    const result = loadState(bad, 0);
    expect(result.kind === 'loaded' && result.state.nodes).toEqual([]);
    expect(result.kind === 'loaded' && result.dropped).toEqual([{ entry: 'nodes[0] id "a"', reason: expect.stringContaining('nodes[0].dkv.regionStatus') }]);
  });
});
