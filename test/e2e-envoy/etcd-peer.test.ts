/**
 * The etcd peer the etcd fault suites stand on (test/support/etcd.ts, test/support/tcp-proxy.ts),
 * proved on a real three-member cluster: the members agree on one leader; a write through one
 * member is read through another; a leader killed (SIGKILL) or stopped (SIGSTOP) is replaced
 * within a bound, and comes back to follow the new one with what was written meanwhile; a client
 * behind a blackholed proxy gets no answer while one connected directly does, and is answered
 * again once the proxy is restored. Prints the failover and catch-up times as FIGURE lines.
 */
import { Etcd3, GRPCDeadlineExceededError, type IOptions } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type EtcdCluster, type EtcdMember } from '../support/etcd.js';
import { eventually } from '../support/harness.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { printFigure } from '../support/traffic.js';

/** A new leader, with heartbeat 50 ms and election timeout 500 ms, is due in about 0.5-1 s. */
const FAILOVER_BOUND_MS = 2_500;
const CATCH_UP_BOUND_MS = 5_000;

type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;
/**
 * etcd3's default policies retry a timed-out call and open a circuit for 5 s after three: here the
 * network is under test, not the client's policies, so each call is made once, as it is.
 */
const once = {
  execute: <T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T, signal?: AbortSignal) =>
    Promise.resolve().then(() => fn({ signal: signal ?? new AbortController().signal })),
  onSuccess: () => ({ dispose: () => undefined }),
  onFailure: () => ({ dispose: () => undefined }),
} as unknown as Policy;

describe('the etcd peer: a three-member cluster, its faults and a cut network', () => {
  let cluster: EtcdCluster;
  const clients: Etcd3[] = [];
  const proxies: TcpProxy[] = [];

  /** A client of the given members only. */
  function clientOf(members: readonly EtcdMember[], options: Partial<IOptions> = {}): Etcd3 {
    const client = new Etcd3({ hosts: members.map((m) => m.clientUrl), dialTimeout: 2_000, ...options });
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    cluster = await startEtcd({ members: 3 });
    console.log(`etcd ${cluster.version}: ${cluster.endpoints.join(', ')} in ${cluster.dir}`);
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    for (const proxy of proxies) await proxy.close();
    await cluster?.stop();
  });

  it('starts three members that all name the same leader, one of them', async () => {
    expect(cluster.endpoints).toHaveLength(3);
    expect(cluster.endpoints.every((e) => /^127\.0\.0\.1:\d+$/.test(e))).toBe(true);
    expect(new Set(cluster.members.map((m) => m.pid)).size).toBe(3);
    await cluster.waitHealthy();
    const statuses = await Promise.all(cluster.members.map((m) => m.status()));
    const ids = statuses.map((s) => s.memberId);
    expect(new Set(ids).size).toBe(3);
    const leaderIds = new Set(statuses.map((s) => s.leaderId));
    expect(leaderIds.size).toBe(1);
    const [leaderId] = [...leaderIds];
    expect(ids).toContain(leaderId);
    const leader = await cluster.leader();
    expect(ids[cluster.members.indexOf(leader)]).toBe(leaderId);
  });

  it('reads through one member what was written through another', async () => {
    const [first, , third] = cluster.members;
    await clientOf([first!]).put('peer/one-to-another').value('written via the first member');
    expect(await clientOf([third!]).get('peer/one-to-another').string()).toBe('written via the first member');
    expect(await third!.localGet('peer/one-to-another')).toBe('written via the first member');
  });

  it('replaces a killed leader within the bound; restarted, it rejoins and catches up', async () => {
    const old = await cluster.leader();
    const others = cluster.members.filter((m) => m !== old);
    const killedAt = Date.now();
    await old.kill();
    expect(old.running).toBe(false);
    const next = await cluster.leader({ not: old, timeoutMs: 10_000 });
    const failoverMs = Date.now() - killedAt;
    expect(others).toContain(next);

    await clientOf(others).put('peer/while-killed').value('written while the old leader was dead');
    const restartedAt = Date.now();
    await old.start();
    expect(old.running).toBe(true);
    await eventually(async () => expect(await old.localGet('peer/while-killed')).toBe('written while the old leader was dead'), CATCH_UP_BOUND_MS);
    const catchUpMs = Date.now() - restartedAt;
    const nextId = (await next.status()).memberId;
    await eventually(async () => expect((await old.status()).leaderId).toBe(nextId), CATCH_UP_BOUND_MS);
    await cluster.waitHealthy();
    printFigure('etcd-leader-sigkill', { failoverMs, restartToCaughtUpMs: catchUpMs, version: cluster.version });
    expect(failoverMs).toBeLessThan(FAILOVER_BOUND_MS);
  });

  it('replaces a stopped (SIGSTOP) leader within the bound; continued, it follows the new one', async () => {
    const old = await cluster.leader();
    const others = cluster.members.filter((m) => m !== old);
    const pausedAt = Date.now();
    old.pause();
    let failoverMs = 0;
    try {
      expect(old.paused).toBe(true);
      await expect(old.status(300)).rejects.toThrow();
      const next = await cluster.leader({ not: old, timeoutMs: 10_000 });
      failoverMs = Date.now() - pausedAt;
      expect(others).toContain(next);
      await clientOf(others).put('peer/while-stopped').value('written while the old leader was stopped');
    } finally {
      old.resume();
    }
    const resumedAt = Date.now();
    await eventually(async () => expect(await old.localGet('peer/while-stopped')).toBe('written while the old leader was stopped'), CATCH_UP_BOUND_MS);
    const catchUpMs = Date.now() - resumedAt;
    const leader = await cluster.leader();
    const leaderId = (await leader.status()).memberId;
    await eventually(async () => expect((await old.status()).leaderId).toBe(leaderId), CATCH_UP_BOUND_MS);
    await cluster.waitHealthy();
    printFigure('etcd-leader-sigstop', { failoverMs, continueToCaughtUpMs: catchUpMs, version: cluster.version });
    expect(failoverMs).toBeLessThan(FAILOVER_BOUND_MS);
  });

  it('a blackholed proxy: its client times out while a direct one is answered; restored, it is answered again', async () => {
    const member = cluster.members[0]!;
    const proxy = await new TcpProxy(member.endpoint).listen();
    proxies.push(proxy);
    expect(proxy.endpoint).toMatch(/^127\.0\.0\.1:\d+$/);
    const viaProxy = new Etcd3({ hosts: [`http://${proxy.endpoint}`], dialTimeout: 2_000, faultHandling: { host: () => once, global: once } });
    clients.push(viaProxy);
    const direct = clientOf([member]);

    await viaProxy.put('peer/proxy').value('before the cut');
    expect(await viaProxy.get('peer/proxy').string()).toBe('before the cut');
    expect(proxy.connections).toBeGreaterThan(0);

    proxy.blackhole();
    const cutAt = Date.now();
    const error = await viaProxy
      .get('peer/proxy')
      .options({ deadline: Date.now() + 500 })
      .string()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    const waitedMs = Date.now() - cutAt;
    expect(error).toBeInstanceOf(GRPCDeadlineExceededError);
    expect(waitedMs).toBeGreaterThanOrEqual(450);
    // The connections the proxy holds were not closed: a cut network resets nothing.
    expect(proxy.connections).toBeGreaterThan(0);

    await direct.put('peer/proxy').value('during the cut');
    expect(await direct.get('peer/proxy').string()).toBe('during the cut');
    // A connection made during the cut (etcd3 dials anew after a timeout) goes nowhere either.
    await expect(viaProxy.get('peer/proxy').options({ deadline: Date.now() + 300 }).string()).rejects.toBeInstanceOf(GRPCDeadlineExceededError);

    proxy.restore();
    const restoredAt = Date.now();
    const after = await eventually(() => viaProxy.get('peer/proxy').options({ deadline: Date.now() + 1_000 }).string(), 5_000, 50);
    expect(after).toBe('during the cut');
    await viaProxy.put('peer/proxy').value('after the cut').options({ deadline: Date.now() + 1_000 });
    expect(await direct.get('peer/proxy').string()).toBe('after the cut');
    printFigure('etcd-proxy-blackhole', { timedOutAfterMs: waitedMs, restoreToAnsweredMs: Date.now() - restoredAt });
  });
});
