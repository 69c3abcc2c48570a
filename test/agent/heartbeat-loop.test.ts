/**
 * The heartbeat loop on a fake clock: its sleeps advance the clock, its sends go to scripted
 * servers, so minutes of heartbeats, failovers and backoffs run in milliseconds.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { AgentServer } from '../../src/agent/flags.js';
import type { SendOutcome } from '../../src/agent/heartbeat-client.js';
import { HeartbeatLoop } from '../../src/agent/heartbeat-loop.js';
import type { HeartbeatBody } from '../../src/sources/http/schemas.js';
import { FakeClock } from '../support/fake-clock.js';

const servers: AgentServer[] = ['http://a:1', 'http://b:2'].map((label) => ({ label, heartbeatUrl: new URL('v1/heartbeat', `${label}/`) }));
const body: HeartbeatBody = { id: 'n1', address: '10.0.0.1:9092', database: 'kafka', shard: 'brokers', role: 'master', status: 'active' };
const ok = (leaseSeconds = 9, advertised: Record<string, string> = {}): SendOutcome => ({ kind: 'answered', answer: { leaseSeconds, advertised } });

interface Sent {
  at: number;
  server: string;
  status: string | undefined;
  token: string | undefined;
}

function harness(options: {
  answer: (server: string, at: number, body: HeartbeatBody) => SendOutcome;
  look?: (at: number) => HeartbeatBody;
  token?: (at: number) => string | undefined;
  runForMs: number;
  intervalSeconds?: number;
  onAnswer?: () => 'done' | void;
}) {
  const clock = new FakeClock(0);
  const sent: Sent[] = [];
  const sleeps: number[] = [];
  const loop: HeartbeatLoop = new HeartbeatLoop({
    servers,
    send: async (url, b, token) => {
      const server = url.origin.replace(/^http:\/\//, '');
      sent.push({ at: clock.now(), server, status: b.status, token });
      return options.answer(server, clock.now(), b);
    },
    observe: async () => options.look?.(clock.now()) ?? body,
    token: () => options.token?.(clock.now()),
    onAnswer: () => options.onAnswer?.(),
    clock,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock.advance(ms);
      if (clock.now() >= options.runForMs) loop.stop();
    },
    random: () => 0.5,
    intervalSeconds: options.intervalSeconds,
    logger: pino({ level: 'silent' }),
  });
  return { clock, sent, sleeps, loop, run: () => loop.run() };
}

describe('heartbeat loop', () => {
  it('heartbeats every third of the lease the server answered, looking at the node every second', async () => {
    const h = harness({ answer: () => ok(9), runForMs: 12_000 });
    await h.run();
    expect(h.sent.map((s) => s.at)).toEqual([0, 3_000, 6_000, 9_000]);
    expect(Math.max(...h.sleeps)).toBeLessThanOrEqual(1_000);
  });

  it('follows a lease that changes, and --interval overrides it', async () => {
    const h = harness({ answer: (_s, at) => ok(at < 3_000 ? 9 : 1.5), runForMs: 5_000 });
    await h.run();
    expect(h.sent.map((s) => s.at)).toEqual([0, 3_000, 3_500, 4_000, 4_500]);
    const fixed = harness({ answer: () => ok(9), runForMs: 10_000, intervalSeconds: 4 });
    await fixed.run();
    expect(fixed.sent.map((s) => s.at)).toEqual([0, 4_000, 8_000]);
  });

  it('sends a change at once: inactive when the probe fails, active when it passes again', async () => {
    const h = harness({
      answer: () => ok(30),
      look: (at) => ({ ...body, status: at >= 2_000 && at < 5_000 ? 'inactive' : 'active' }),
      runForMs: 16_000,
    });
    await h.run();
    // A 10 s period, restarted by each change.
    expect(h.sent.map((s) => [s.at, s.status])).toEqual([
      [0, 'active'],
      [2_000, 'inactive'],
      [5_000, 'active'],
      [15_000, 'active'],
    ]);
  });

  it('fails over to the next server at once, and stays with the one that answers', async () => {
    const h = harness({ answer: (server) => (server === 'a:1' ? { kind: 'failed', reason: 'ECONNREFUSED' } : ok(9)), runForMs: 7_000 });
    await h.run();
    expect(h.sent.map((s) => [s.at, s.server])).toEqual([
      [0, 'a:1'],
      [0, 'b:2'],
      [3_000, 'b:2'],
      [6_000, 'b:2'],
    ]);
  });

  it('when every server fails, backs off (capped at the period) and goes on until one is back', async () => {
    // Both down until 10 s (a restart), a 9 s lease known from before.
    const h = harness({ answer: (_s, at) => (at >= 1_000 && at < 10_000 ? { kind: 'failed', reason: 'HTTP 503: restarting' } : ok(9)), runForMs: 20_000 });
    await h.run();
    const rounds = [...new Set(h.sent.filter((s) => s.at >= 1_000 && s.at < 10_000).map((s) => s.at))];
    const gaps = rounds.slice(1).map((t, i) => t - rounds[i]!);
    // From the heartbeat due at 3 s; random() = 0.5: three quarters of 500, 1000, 2000, then of the 3000 ms period.
    expect(rounds[0]).toBe(3_000);
    expect(gaps).toEqual([375, 750, 1_500, 2_250]);
    const back = h.sent.find((s) => s.at >= 10_000)!;
    expect(back.at - rounds[rounds.length - 1]!).toBe(2_250);
    // Then the period again.
    const after = h.sent.filter((s) => s.at > back.at).map((s) => s.at - back.at);
    expect(after.slice(0, 2)).toEqual([3_000, 6_000]);
  });

  it('never retries a refused heartbeat in a tight loop: only after a backoff, or at once when it changes', async () => {
    const h = harness({
      answer: () => ({ kind: 'refused', statusCode: 400, message: 'body.shard: must match pattern' }),
      look: (at) => ({ ...body, status: at >= 20_000 && at < 21_000 ? 'inactive' : 'active' }),
      runForMs: 60_000,
    });
    await h.run();
    const times = h.sent.map((s) => s.at);
    // Backoff from a period (3.33 s before any answer, three quarters of it here), doubling to a
    // minute; the change at 20 s and back at 21 s each go out at the next look (within a second).
    expect(times.length).toBeLessThanOrEqual(8);
    expect(h.sent.filter((s) => s.at >= 20_000 && s.at < 21_000).map((s) => s.status)).toEqual(['inactive']);
    expect(h.sent.filter((s) => s.at >= 21_000 && s.at < 22_000).map((s) => s.status)).toEqual(['active']);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(1_000);
    // Refusals alternate between servers: another one may think otherwise.
    expect(new Set(h.sent.map((s) => s.server))).toEqual(new Set(['a:1', 'b:2']));
  });

  it('retries a refused heartbeat at once when the token changes (a rotated --token-file)', async () => {
    const h = harness({
      answer: (_s, _at, b) => (h.sent[h.sent.length - 1]!.token === 'new' ? ok(9) : { kind: 'refused', statusCode: 401, message: 'unauthorized' }),
      token: (at) => (at < 5_000 ? 'old' : 'new'),
      runForMs: 9_000,
    });
    await h.run();
    // Refused at 0 and after the backoff at 2.5 s (then 5 s more); the new token goes out at the
    // first look after it appears, and is answered.
    expect(h.sent.map((s) => [s.at, s.token])).toEqual([
      [0, 'old'],
      [2_500, 'old'],
      [5_500, 'new'],
      [8_500, 'new'],
    ]);
  });

  it('ends when the answer is all it waited for (--wait-advertised)', async () => {
    const h = harness({ answer: (_s, at) => ok(9, at >= 3_000 ? { privatelink: 'k:6001' } : {}), onAnswer: () => (h.clock.now() >= 3_000 ? 'done' : undefined), runForMs: 60_000 });
    await h.run();
    expect(h.sent.map((s) => s.at)).toEqual([0, 3_000]);
  });

  it('sends the final heartbeat to the next server when the current one fails', async () => {
    const h = harness({ answer: (server) => (server === 'a:1' ? { kind: 'failed', reason: 'ECONNREFUSED' } : ok(9)), runForMs: 1 });
    expect(await h.loop.sendFinal({ ...body, status: 'inactive' })).toBe(true);
    expect(h.sent.map((s) => [s.server, s.status])).toEqual([
      ['a:1', 'inactive'],
      ['b:2', 'inactive'],
    ]);
    const down = harness({ answer: () => ({ kind: 'failed', reason: 'ECONNREFUSED' }), runForMs: 1 });
    expect(await down.loop.sendFinal({ ...body, status: 'inactive' })).toBe(false);
    expect(down.sent).toHaveLength(2);
  });
});
