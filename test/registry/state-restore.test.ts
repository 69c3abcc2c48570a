/** Start-up from a state file: each dropped entry gets one log line naming it; the rest is restored. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { restoreState } from '../../src/registry/state-restore.js';
import { FakeClock } from '../support/fake-clock.js';

const pools = [{ group: 'external', database: 'default', frontEnds: [{ advertisedHost: 'kafka.test.com', firstPort: 6001, lastPort: 6003 }] }];
const node = (id: string, host: string) => ({ id, address: `${host}:9092`, host, port: 9092, database: 'default', shard: 'shard0', role: 'replica', status: 'active', epoch: 0, labels: {}, firstSeenMs: 0 });
const port = (nodeId: string, p: number) => ({ group: 'external', nodeId, port: p, advertisedHost: 'kafka.test.com' });

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { lines, logger };
}

describe('restoreState', () => {
  it('logs one warning per dropped node or port, naming it, and restores the rest', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'shardvoy-restore-')), 'state.json');
    const nodes = [node('b1', '10.0.0.1'), { ...node('b2', '10.0.0.2'), id: 'fake\nrow' }, { ...node('b3', '10.0.0.3'), epoch: 1e300 }, node('b4', '10.0.0.4')];
    writeFileSync(file, JSON.stringify({ version: 1, savedAt: 'x', nodes, ports: [port('b1', 6003), port('b4', 6003), port('b4', 7000)] }));
    const clock = new FakeClock();
    const registry = new MemoryRegistry({ leaseSeconds: 10, expiredRetentionSeconds: 300, portPools: pools, clock });
    const { lines, logger } = capture();

    expect(restoreState(file, registry, clock, logger).loaded).toBe(true);

    expect(registry.list().map((n) => n.id)).toEqual(['b1', 'b4']);
    expect([registry.ports.portOf('external', 'b1')?.port, registry.ports.portOf('external', 'b4')?.port]).toEqual([6003, 6001]);
    const warnings = lines.filter((l) => l.level === 40);
    expect(warnings.map((w) => w.entry)).toEqual(['nodes[1] id "fake\\nrow"', 'nodes[2] id "b3"', 'port of node "b4" in group "external"', 'port of node "b4" in group "external"']);
    expect(warnings.map((w) => w.reason)).toEqual([
      expect.stringContaining('nodes[1].id: must match pattern'),
      expect.stringContaining('nodes[2].epoch: must be <= 9007199254740991'),
      'port 6003 is held by node "b1"',
      'port 7000 is outside the node-listener ranges of group external (6001..6003)',
    ]);
    for (const w of warnings) expect(String(w.msg)).not.toContain('\n');
    expect(lines.find((l) => l.msg === 'state loaded; every node has a fresh lease')).toMatchObject({ nodes: 2, dropped: 4 });
  });
});
