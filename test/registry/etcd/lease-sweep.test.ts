/**
 * The judge's lease sweep (src/registry/etcd/lease-sweep.ts) on a fake etcd: when many nodes
 * are silent at once it asks for every alive node's lease, marks the ones unrenewed for over half
 * a lease, checks the marks again later, and drops a mark once the node renews, changes lease or
 * loses its alive key.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { NodeDoc } from '../../../src/registry/etcd/keys.js';
import type { StoredDoc } from '../../../src/registry/etcd/etcd-registry.js';
import { LeaseSweep, SWEEP_AT, type LeaseTimeLeft } from '../../../src/registry/etcd/lease-sweep.js';

const LEASE_MS = 10_000;
const EVERY_MS = 2_000;

function docsOf(ids: string[], leaseOf: (id: string) => string = (id) => `L-${id}`): Map<string, StoredDoc> {
  return new Map(ids.map((id) => [id, { doc: { node: {} as NodeDoc['node'], lease: leaseOf(id), expired: false }, modRevision: 1 }]));
}

describe('lease sweep', () => {
  it('asks for every alive lease only once many are silent, and marks those unrenewed for over half a lease', async () => {
    const ids = Array.from({ length: 300 }, (_, i) => `n${i}`);
    const docs = docsOf(ids);
    const alive = new Set(ids);
    const asked: string[] = [];
    // n0..n149 were last renewed 8 s ago (10 s granted, 2 s left); the others 1 s ago.
    const left: Record<string, LeaseTimeLeft> = {};
    ids.forEach((id, i) => (left[`L-${id}`] = i < 150 ? { ttl: 2, granted: 10 } : { ttl: 9, granted: 10 }));
    const sweep = new LeaseSweep(async (lease) => (asked.push(lease), left[lease]!), pino({ level: 'silent' }));

    await sweep.run(SWEEP_AT - 1, docs, alive, LEASE_MS, 100_000, EVERY_MS);
    expect(asked).toEqual([]);
    await sweep.run(SWEEP_AT, docs, alive, LEASE_MS, 100_000, EVERY_MS);
    expect(asked).toHaveLength(300);
    // 10 - 2 - 1 = 7 s at least went by unrenewed (the TTL is cut to whole seconds).
    expect(sweep.silentSince('n0')).toBe(93_000);
    expect(sweep.silentSince('n149')).toBe(93_000);
    expect(sweep.silentSince('n150')).toBeUndefined();

    // Within everyMs: nothing asked again.
    await sweep.run(SWEEP_AT, docs, alive, LEASE_MS, 101_000, EVERY_MS);
    expect(asked).toHaveLength(300);

    // Later, few silent: only the marked are asked again; n0 renewed meanwhile, n1 changed lease, n2's alive key went.
    asked.length = 0;
    left['L-n0'] = { ttl: 9, granted: 10 };
    const later = docsOf(ids, (id) => (id === 'n1' ? 'L-new' : `L-${id}`));
    alive.delete('n2');
    await sweep.run(0, later, alive, LEASE_MS, 102_000, EVERY_MS);
    expect(asked).toHaveLength(148);
    expect(asked).not.toContain('L-n1');
    expect(asked).not.toContain('L-new');
    expect(asked).not.toContain('L-n2');
    expect(sweep.silentSince('n0')).toBeUndefined();
    expect(sweep.silentSince('n1')).toBeUndefined();
    expect(sweep.silentSince('n2')).toBeUndefined();
    expect(sweep.silentSince('n3')).toBe(93_000); // the first time it was found silent is kept
  });

  it('counts a lease past its end as unrenewed, leaves one etcd no longer has to the watch (its alive key went with it); a failed sweep changes nothing and does not throw', async () => {
    const ids = Array.from({ length: SWEEP_AT }, (_, i) => `n${i}`);
    const docs = docsOf(ids);
    const alive = new Set(ids);
    const gone = new LeaseSweep(async () => ({ ttl: -1, granted: 0 }), pino({ level: 'silent' }));
    await gone.run(SWEEP_AT, docs, alive, 2_000, 50_000, EVERY_MS);
    // Revoked (etcd answers -1 and 0 granted): its alive key was deleted with it, and the watch says so.
    expect(gone.silentSince('n0')).toBeUndefined();
    const past = new LeaseSweep(async () => ({ ttl: -1, granted: 2 }), pino({ level: 'silent' }));
    await past.run(SWEEP_AT, docs, alive, 2_000, 50_000, EVERY_MS);
    expect(past.silentSince('n0')).toBe(48_000);

    const failing = new LeaseSweep(async () => Promise.reject(new Error('etcd away')), pino({ level: 'silent' }));
    await expect(failing.run(SWEEP_AT, docs, alive, 2_000, 50_000, EVERY_MS)).resolves.toBeUndefined();
    expect(failing.silentSince('n0')).toBeUndefined();
  });
});
