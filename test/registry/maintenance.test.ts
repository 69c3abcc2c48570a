/** Maintenance (contract 15): kept across heartbeats, saved in the state file, restored, and checked on load. */
import { describe, expect, it } from 'vitest';
import { assessHealth } from '../../src/registry/health.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { loadState, serializeState } from '../../src/registry/state-file.js';
import { checkNodes } from '../../src/registry/state-entries.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FakeClock } from '../support/fake-clock.js';
import { heartbeat } from '../support/heartbeats.js';

const registryOn = (clock: FakeClock) => new MemoryRegistry({ leaseSeconds: 10, expiredRetentionSeconds: 300, clock });

describe('maintenance', () => {
  it('drains a node whatever its heartbeats say, until lifted', () => {
    const clock = new FakeClock();
    const registry = registryOn(clock);
    registry.record(heartbeat({ id: 'a', role: 'master' }));
    registry.takeChanges();
    expect(registry.setMaintenance('a', { reason: 'disk swap', sinceMs: clock.now() })?.maintenance).toEqual({ reason: 'disk swap', sinceMs: clock.now() });
    expect([...registry.takeChanges()]).toEqual(['a']);
    registry.record(heartbeat({ id: 'a', role: 'master', status: 'active' }));
    expect(registry.get('a')?.maintenance?.reason).toBe('disk swap');
    expect(assessHealth(registry.list(), clock.now(), registry.leaseMs).get('a')).toBe('draining');
    registry.setMaintenance('a', undefined);
    expect(registry.get('a')?.maintenance).toBeUndefined();
    expect(assessHealth(registry.list(), clock.now(), registry.leaseMs).get('a')).toBe('healthy');
    expect(registry.setMaintenance('nope', { reason: 'x', sinceMs: 0 })).toBeUndefined();
  });

  it('survives a restart through the state file', () => {
    const clock = new FakeClock();
    const before = registryOn(clock);
    before.record(heartbeat({ id: 'a' }));
    before.record(heartbeat({ id: 'b' }));
    before.setMaintenance('a', { reason: 'kernel upgrade', sinceMs: 1234 });
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'shardvoy-maint-')), 'state.json');
    writeFileSync(file, serializeState(before.state(), clock.now()));
    const loaded = loadState(file, clock.now());
    expect(loaded.kind).toBe('loaded');
    const after = registryOn(clock);
    if (loaded.kind === 'loaded') {
      expect(loaded.dropped).toEqual([]);
      after.restore(loaded.state);
    }
    expect(after.get('a')?.maintenance).toEqual({ reason: 'kernel upgrade', sinceMs: 1234 });
    expect(after.get('b')?.maintenance).toBeUndefined();
  });

  it('drops a stored node whose maintenance is malformed', () => {
    const stored = { id: 'a', address: '10.0.0.1:9000', host: '10.0.0.1', port: 9000, database: 'default', shard: 'shard0', role: 'master', status: 'active', epoch: 0, labels: {}, firstSeenMs: 0 };
    expect(checkNodes([{ ...stored, maintenance: { reason: 'ok', sinceMs: 5 } }]).nodes[0]?.maintenance).toEqual({ reason: 'ok', sinceMs: 5 });
    const { dropped } = checkNodes([{ ...stored, maintenance: { reason: 'x'.repeat(2000), sinceMs: 5 } }, { ...stored, id: 'b', maintenance: { reason: 'ok' } }]);
    expect(dropped.map((d) => d.reason)).toEqual([expect.stringContaining('nodes[0].maintenance.reason'), expect.stringContaining('nodes[1].maintenance')]);
  });
});
