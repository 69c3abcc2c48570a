/**
 * The self-preservation judge (src/registry/self-preservation.ts) on a fake clock, rule by rule
 * and at each rule's boundary (docs/heartbeat-rules.md, "Self-preservation"):
 *  - a node is silent once it has missed more than half a lease;
 *  - the judge looks when a lease has run out (more than a lease of silence), over the nodes
 *    heard from within the last two leases, `status: inactive` ones left out;
 *  - it engages when more than maxExpiredFraction of those are silent, and they are at least
 *    minNodes;
 *  - while engaged, the silent fraction is judged over the nodes live when it engaged; at or
 *    under the threshold it lets go;
 *  - an operator's resume lets go at once, and the nodes silent then are not counted again.
 */
import type { Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import type { SelfPreservationConfig } from '../../src/config/types.js';
import type { NodeRecord, NodeStatus } from '../../src/registry/node.js';
import { ExpiryGuard } from '../../src/registry/self-preservation.js';
import { FakeClock } from '../support/fake-clock.js';
import { heartbeat } from '../support/heartbeats.js';

const LEASE_MS = 10_000;
const DEFAULTS: SelfPreservationConfig = { enabled: true, maxExpiredFraction: 0.5, minNodes: 3 };

interface Recorded {
  readonly level: 'warn' | 'info';
  readonly msg: string;
}

function recordingLogger(lines: Recorded[]): Logger {
  const log = (level: Recorded['level']) => (_fields: object, msg: string) => lines.push({ level, msg });
  return { warn: log('warn'), info: log('info'), error: log('warn'), debug: () => undefined } as unknown as Logger;
}

/** A judge, its clock, and the log lines it wrote. */
function judge(settings: Partial<SelfPreservationConfig> = {}) {
  const lines: Recorded[] = [];
  const clock = new FakeClock();
  const guard = new ExpiryGuard({ ...DEFAULTS, ...settings }, LEASE_MS, recordingLogger(lines));
  return { guard, clock, lines, start: clock.now() };
}

/** A node last heard from at `lastMs` (server clock). */
function node(id: string, lastMs: number, status: NodeStatus = 'active'): NodeRecord {
  return { ...heartbeat({ id, status }), firstSeenMs: lastMs, lastHeartbeatMs: lastMs };
}

/** `count` nodes named prefix0..prefixN, all last heard from at `lastMs`. */
function nodes(prefix: string, count: number, lastMs: number, status: NodeStatus = 'active'): NodeRecord[] {
  return Array.from({ length: count }, (_, i) => node(`${prefix}${i}`, lastMs, status));
}

const sorted = (set: ReadonlySet<string>) => [...set].sort();

describe('self-preservation: when it engages', () => {
  it('engages when more than the fraction is silent as a lease runs out, and not at exactly the fraction', () => {
    const { guard, start } = judge();
    const now = start + LEASE_MS + 1;
    // 5 of 10 silent: exactly 0.5 is not "more than".
    const half = [...nodes('s', 5, start), ...nodes('a', 5, now)];
    expect(guard.evaluate(half, now).size).toBe(0);
    expect(guard.isActive).toBe(false);
    // 6 of 10: engaged, and exactly the silent ones whose lease ran out are kept.
    const more = [...nodes('s', 6, start), ...nodes('a', 4, now)];
    expect(sorted(guard.evaluate(more, now))).toEqual(['s0', 's1', 's2', 's3', 's4', 's5']);
    expect(guard.isActive).toBe(true);
  });

  it('looks only once a lease has run out: a lease of silence exactly is not yet one', () => {
    const { guard, start } = judge();
    const all = nodes('s', 10, start);
    expect(guard.evaluate(all, start + LEASE_MS).size).toBe(0);
    expect(guard.isActive).toBe(false);
    expect(guard.evaluate(all, start + LEASE_MS + 1).size).toBe(10);
    expect(guard.isActive).toBe(true);
  });

  it('calls a node silent only past half a lease', () => {
    const now = judge().start + LEASE_MS + 1;
    const fiveGone = (start: number) => nodes('s', 5, start);
    // Five whose lease ran out, one at exactly half a lease of silence, four fresh: 5 of 10.
    const atHalf = judge();
    expect(atHalf.guard.evaluate([...fiveGone(atHalf.start), node('h', now - LEASE_MS / 2), ...nodes('a', 4, now)], now).size).toBe(0);
    expect(atHalf.guard.isActive).toBe(false);
    // One millisecond more and that one is silent too: 6 of 10.
    const pastHalf = judge();
    const preserved = pastHalf.guard.evaluate([...fiveGone(pastHalf.start), node('h', now - LEASE_MS / 2 - 1), ...nodes('a', 4, now)], now);
    expect(pastHalf.guard.isActive).toBe(true);
    // h is silent but its lease has not run out: it needs no preserving yet.
    expect(sorted(preserved)).toEqual(['s0', 's1', 's2', 's3', 's4']);
  });

  it('judges over the nodes heard from within two leases: older silence is not counted', () => {
    const { start } = judge();
    const now = start + 2 * LEASE_MS + 1;
    const recent = [...nodes('s', 2, now - LEASE_MS - 1), ...nodes('a', 2, now)];
    // Two of four recent nodes silent (0.5); three nodes gone for more than two leases do not count.
    const beyond = judge();
    expect(beyond.guard.evaluate([...nodes('old', 3, now - 2 * LEASE_MS - 1), ...recent], now).size).toBe(0);
    expect(beyond.guard.isActive).toBe(false);
    // At exactly two leases they are still recent: 5 of 7 silent, engaged, all five kept.
    const within = judge();
    expect(sorted(within.guard.evaluate([...nodes('old', 3, now - 2 * LEASE_MS), ...recent], now))).toEqual(['old0', 'old1', 'old2', 's0', 's1']);
    expect(within.guard.isActive).toBe(true);
  });

  it('never engages with fewer than minNodes recent nodes, and engages at exactly minNodes', () => {
    const now = judge().start + LEASE_MS + 1;
    const two = judge({ minNodes: 3 });
    expect(two.guard.evaluate(nodes('s', 2, two.start), now).size).toBe(0);
    expect(two.guard.isActive).toBe(false);
    const three = judge({ minNodes: 3 });
    expect(three.guard.evaluate(nodes('s', 3, three.start), now).size).toBe(3);
    expect(three.guard.isActive).toBe(true);
    const four = judge({ minNodes: 4 });
    expect(four.guard.evaluate(nodes('s', 3, four.start), now).size).toBe(0);
    expect(four.guard.isActive).toBe(false);
  });

  it('does not count inactive nodes as silent: they said goodbye', () => {
    const { guard, start } = judge();
    const now = start + LEASE_MS + 1;
    // Counting them, 6 of 10 would be silent; without them it is 2 of 6.
    const mixed = [...nodes('a', 4, now), ...nodes('s', 2, start), ...nodes('bye', 4, start, 'inactive')];
    expect(guard.evaluate(mixed, now).size).toBe(0);
    expect(guard.isActive).toBe(false);
  });

  it('does not count inactive nodes towards minNodes, nor keep them once engaged', () => {
    const now = judge().start + LEASE_MS + 1;
    const few = judge({ minNodes: 3 });
    expect(few.guard.evaluate([...nodes('s', 2, few.start), ...nodes('bye', 5, few.start, 'inactive')], now).size).toBe(0);
    expect(few.guard.isActive).toBe(false);
    const many = judge();
    const preserved = many.guard.evaluate([...nodes('s', 4, many.start), ...nodes('a', 2, now), node('bye', many.start, 'inactive')], now);
    expect(many.guard.isActive).toBe(true);
    expect(sorted(preserved)).toEqual(['s0', 's1', 's2', 's3']);
  });

  it('never engages when disabled, and a reload that disables it lets go at once', () => {
    const off = judge({ enabled: false });
    const now = off.start + LEASE_MS + 1;
    expect(off.guard.evaluate(nodes('s', 10, off.start), now).size).toBe(0);
    expect(off.guard.isActive).toBe(false);

    const on = judge();
    expect(on.guard.evaluate(nodes('s', 10, on.start), now).size).toBe(10);
    on.guard.reconfigure({ ...DEFAULTS, enabled: false }, LEASE_MS);
    expect(on.guard.isActive).toBe(false);
    expect(on.guard.evaluate(nodes('s', 10, on.start), now + 1).size).toBe(0);
  });

  it('stays engaged through a reload that keeps it enabled', () => {
    const { guard, start } = judge();
    const now = start + LEASE_MS + 1;
    expect(guard.evaluate(nodes('s', 10, start), now).size).toBe(10);
    guard.reconfigure({ ...DEFAULTS, minNodes: 2 }, LEASE_MS);
    expect(guard.isActive).toBe(true);
    expect(guard.evaluate(nodes('s', 10, start), now + 1).size).toBe(10);
  });

  it('applies a reloaded lease and fraction to the next judgement', () => {
    const { guard, start } = judge();
    // Six of ten silent for 6 s: with a 10 s lease nobody's lease ran out; with a 5 s lease it did.
    const now = start + 6_000;
    const view = [...nodes('s', 6, start), ...nodes('a', 4, now)];
    expect(guard.evaluate(view, now).size).toBe(0);
    guard.reconfigure({ ...DEFAULTS, maxExpiredFraction: 0.7 }, 5_000);
    expect(guard.evaluate(view, now).size).toBe(0); // 0.6 is under the new 0.7
    guard.reconfigure({ ...DEFAULTS, maxExpiredFraction: 0.5 }, 5_000);
    expect(guard.evaluate(view, now).size).toBe(6);
  });
});

describe('self-preservation: while engaged, and how it ends', () => {
  /** Ten nodes heard at start; six fall silent; judged a lease and a millisecond later: engaged. */
  function engaged() {
    const j = judge();
    const now = j.start + LEASE_MS + 1;
    const silent = nodes('s', 6, j.start);
    const alive = nodes('a', 4, now);
    expect(j.guard.evaluate([...silent, ...alive], now).size).toBe(6);
    expect(j.guard.isActive).toBe(true);
    return { ...j, now, silent, alive };
  }

  it('keeps the silent nodes lease after lease while too many stay silent', () => {
    const { guard, now, silent } = engaged();
    for (const later of [now + 1, now + LEASE_MS, now + 10 * LEASE_MS]) {
      expect(sorted(guard.evaluate([...silent, ...nodes('a', 4, later)], later))).toEqual(['s0', 's1', 's2', 's3', 's4', 's5']);
    }
    expect(guard.isActive).toBe(true);
  });

  it('judges the fraction over the nodes live when it engaged: newcomers do not dilute it', () => {
    const { guard, now, silent, alive } = engaged();
    const later = now + 1_000;
    const newcomers = nodes('new', 20, later);
    expect(guard.evaluate([...silent, ...alive, ...newcomers], later).size).toBe(6);
    expect(guard.isActive).toBe(true);
  });

  it('lets go when heartbeats bring the silent fraction to the threshold', () => {
    const { guard, now, silent, lines } = engaged();
    const later = now + 2_000;
    // One of the six comes back: 5 of 10 silent, exactly the threshold, which is not over it.
    const back = [node('s0', later), ...silent.slice(1), ...nodes('a', 4, later)];
    expect(guard.evaluate(back, later).size).toBe(0);
    expect(guard.isActive).toBe(false);
    expect(lines.filter((l) => l.level === 'info').map((l) => l.msg)).toEqual(['self-preservation over: heartbeats are back, expiry resumes']);
  });

  it('does not count a silent node that said inactive while engaged', () => {
    const { guard, now, silent } = engaged();
    // s0 came back only to say inactive (shut down on purpose), then went quiet again: it is
    // silent, but not counted, so 5 of 10 are silent and it lets go.
    const later = now + LEASE_MS;
    const view = [{ ...silent[0]!, status: 'inactive' as const, lastHeartbeatMs: now + 1_000 }, ...silent.slice(1), ...nodes('a', 4, later)];
    expect(guard.evaluate(view, later).size).toBe(0);
    expect(guard.isActive).toBe(false);
  });

  it('warns once a lease while it keeps nodes', () => {
    const { guard, now, silent, alive, lines } = engaged();
    const warnings = () => lines.filter((l) => l.level === 'warn').length;
    expect(warnings()).toBe(1);
    guard.evaluate([...silent, ...alive], now + 1);
    guard.evaluate([...silent, ...alive], now + LEASE_MS - 1);
    expect(warnings()).toBe(1);
    guard.evaluate([...silent, ...alive], now + LEASE_MS);
    expect(warnings()).toBe(2);
    expect(lines.find((l) => l.level === 'warn')!.msg).toMatch(/^self-preservation: 6 of 10 nodes stopped heartbeating at once/);
  });

  it("ends at once on an operator's resume, and does not count those silent nodes again", () => {
    const { guard, now, silent, alive } = engaged();
    expect(guard.resume(now)).toBe(true);
    expect(guard.isActive).toBe(false);
    expect(guard.resume(now)).toBe(false); // nothing left to resume
    // The same six are still silent, a lease later: they are accepted as gone.
    const later = now + LEASE_MS;
    expect(guard.evaluate([...silent, ...nodes('a', 4, later)], later).size).toBe(0);
    expect(guard.isActive).toBe(false);
    void alive;
  });

  it('after a resume, counts again every node heard from since, so a new mass silence engages again', () => {
    const { guard, now } = engaged();
    guard.resume(now);
    // Ten nodes heartbeat after the resume, then six of them fall silent.
    const beat = now + 1_000;
    const later = beat + LEASE_MS + 1;
    const view = [...nodes('t', 6, beat), ...nodes('u', 4, later)];
    expect(guard.evaluate(view, later).size).toBe(6);
    expect(guard.isActive).toBe(true);
  });

  it('after a resume, a node heard exactly half a lease before it is still counted', () => {
    const { guard, now } = engaged();
    guard.resume(now);
    // Heard at exactly resume - lease/2: not silent "since before" the resume's horizon, so counted.
    const later = now + LEASE_MS;
    const view = [...nodes('t', 6, now - LEASE_MS / 2), ...nodes('u', 4, later)];
    expect(guard.evaluate(view, later).size).toBe(6);
    // One millisecond earlier, and they are accepted as gone.
    const other = engaged();
    other.guard.resume(other.now);
    const before = [...nodes('t', 6, other.now - LEASE_MS / 2 - 1), ...nodes('u', 4, later)];
    expect(other.guard.evaluate(before, later).size).toBe(0);
  });

  it('says whether it was preserving when resumed while idle', () => {
    const { guard, start } = judge();
    expect(guard.resume(start)).toBe(false);
    expect(guard.isActive).toBe(false);
  });
});
