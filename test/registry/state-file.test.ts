/** The state file: atomic writes, a round trip of nodes and ports, and corrupt files moved aside. */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { writeAtomically } from '../../src/registry/atomic-write.js';
import { loadState, StateSaver, serializeState } from '../../src/registry/state-file.js';
import { FakeClock } from '../support/fake-clock.js';
import { heartbeat } from '../support/heartbeats.js';

const pools = [{ group: 'external', database: 'default', frontEnds: [{ advertisedHost: 'kafka.test.com', firstPort: 6001, lastPort: 6003 }] }];

function registryWith(clock: FakeClock) {
  const registry = new MemoryRegistry({ leaseSeconds: 10, expiredRetentionSeconds: 300, portPools: pools, clock });
  registry.record(heartbeat({ id: 'b1', address: '10.0.0.1:9092', role: 'master', epoch: 4, dc: 'dc1', labels: { rack: 'r1' } }));
  registry.record(heartbeat({ id: 'b2', address: '[fd00::2]:9092', status: 'draining' }));
  return registry;
}

describe('state file', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-state-'));

  it('round-trips nodes and their ports, giving every node a fresh lease', () => {
    const clock = new FakeClock();
    const registry = registryWith(clock);
    const file = path.join(dir, 'roundtrip.json');
    writeAtomically(file, serializeState(registry.state(), clock.now()));

    clock.advance(3_600_000); // restarted an hour later
    const loaded = loadState(file, clock.now());
    expect(loaded.kind).toBe('loaded');
    const restored = new MemoryRegistry({ leaseSeconds: 10, expiredRetentionSeconds: 300, portPools: pools, clock });
    restored.restore((loaded as Extract<typeof loaded, { kind: 'loaded' }>).state);
    expect(restored.get('b1')).toMatchObject({ address: '10.0.0.1:9092', role: 'master', epoch: 4, dc: 'dc1', labels: { rack: 'r1' }, lastHeartbeatMs: clock.now() });
    expect(restored.get('b2')).toMatchObject({ host: 'fd00::2', status: 'draining', dc: undefined });
    expect(restored.get('b1')?.firstSeenMs).toBe(registry.get('b1')?.firstSeenMs);
    expect([restored.ports.portOf('external', 'b1')?.port, restored.ports.portOf('external', 'b2')?.port]).toEqual([6001, 6002]);
  });

  it('reports no file as none', () => {
    expect(loadState(path.join(dir, 'absent.json'), Date.now())).toEqual({ kind: 'none' });
  });

  it.each([
    ['half a file', '{"version":1,"savedAt":"2026-'],
    ['another program\'s JSON', '{"hello":"world"}'],
    ['a file whose nodes are not a list', JSON.stringify({ version: 1, savedAt: 'x', nodes: { a: {} }, ports: [] })],
    ['a file of another version', JSON.stringify({ version: 2, savedAt: 'x', nodes: [], ports: [] })],
  ])('moves %s aside and starts as if there were none', (_name, contents) => {
    const file = path.join(dir, `corrupt-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, contents);
    const result = loadState(file, Date.UTC(2026, 10, 22, 10, 0, 0));
    expect(result.kind).toBe('corrupt');
    const moved = (result as Extract<typeof result, { kind: 'corrupt' }>).movedTo;
    expect(existsSync(file)).toBe(false);
    expect(readFileSync(moved, 'utf8')).toBe(contents);
    expect(moved).toBe(`${file}.corrupt-2026-11-22T10-00-00-000Z`);
  });

  it('saves after a change at most once a second, and at once on stop', async () => {
    const clock = new FakeClock();
    const registry = registryWith(clock);
    const file = path.join(dir, 'saver.json');
    const saver = new StateSaver(file, registry, pino({ level: 'silent' }), 200);
    saver.start();
    registry.record(heartbeat({ id: 'b3', address: '10.0.0.3:9092' }));
    expect(existsSync(file)).toBe(false);
    await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(file)).toBe(true); // the first change is written at once
    registry.record(heartbeat({ id: 'b4', address: '10.0.0.4:9092' }));
    await new Promise((r) => setTimeout(r, 50));
    expect(JSON.parse(readFileSync(file, 'utf8')).nodes.map((n: any) => n.id)).toEqual(['b1', 'b2', 'b3']);
    saver.stop();
    expect(JSON.parse(readFileSync(file, 'utf8')).nodes.map((n: any) => n.id)).toEqual(['b1', 'b2', 'b3', 'b4']);
  });
});
