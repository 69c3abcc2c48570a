/**
 * Restarts under traffic on a real Envoy (issue scenario 7, contract 9). A client opens a
 * connection through the masters' listener every 20 ms and holds one long-lived connection while
 * shardvoy (a) is killed with SIGKILL and restarted from its state file on the same gRPC port,
 * and (b) is restarted with no state at all. Envoy keeps serving what it holds while the control
 * plane is away; when it reconnects it must receive no change (same versions, no listener or
 * cluster added, modified or removed), and a start without state must hold its answers through
 * the warm-up instead of telling Envoy that every node is gone.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectEnvoyInSync } from '../support/envoy-checks.js';
import { startGroupEnvoy, type EnvoyProcess } from '../support/envoy.js';
import { freePortRun } from '../support/free-ports.js';
import { eventually, HeartbeatPump } from '../support/harness.js';
import { NodeConnection, startIdNode, type IdNode } from '../support/id-nodes.js';
import { scratchDir, startShardvoyProcess, type ShardvoyProcess } from '../support/shardvoy-process.js';
import { printFigure, TrafficProbe } from '../support/traffic.js';

const GROUP = 'edge';
const LEASE_SECONDS = 4;
/** Envoy's counters that say a listener or cluster was (re)built: none may move across a restart. */
const CHURN = [
  'listener_manager.listener_added',
  'listener_manager.listener_modified',
  'listener_manager.listener_removed',
  'cluster_manager.cluster_added',
  'cluster_manager.cluster_modified',
  'cluster_manager.cluster_removed',
] as const;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('shardvoy restarts under traffic through a real Envoy', () => {
  const scratch = scratchDir();
  const stateFile = path.join(scratch.dir, 'state', 'shardvoy-state.json');
  const started: ShardvoyProcess[] = [];
  const nodes = new Map<string, IdNode>();
  const connections: NodeConnection[] = [];
  const probes: TrafficProbe[] = [];
  let shardvoy: ShardvoyProcess;
  let envoy: EnvoyProcess;
  let pump: HeartbeatPump;
  let grpcPort: number;
  let mastersPort: number;
  /** While held, the nodes' heartbeats do not reach shardvoy (they are due later). */
  let heartbeatHold: { held: boolean } = { held: false };

  /** gRPC on a fixed port: Envoy's bootstrap points there, and a restarted shardvoy must be found again. */
  const config = (withState: boolean) => ({
    grpc: { listen: `127.0.0.1:${grpcPort}` },
    http: { listen: '127.0.0.1:0' },
    registry: { leaseSeconds: LEASE_SECONDS, ...(withState ? { stateFile } : {}) },
    groups: [{ name: GROUP, database: 'default', shards: [{ name: 'shard0', listen: `0.0.0.0:${mastersPort}`, clusters: ['shard0-masters', 'shard0-replicas'] }] }],
  });
  const start = async (withState: boolean) => {
    const instance = await startShardvoyProcess({ config: config(withState), args: [] });
    started.push(instance);
    return instance;
  };
  const readyz = async () => (await fetch(`${shardvoy.baseUrl}/readyz`)).status;
  const churn = async () => {
    const stats = await envoy.admin.stats();
    return Object.fromEntries(CHURN.map((name) => [name, stats.get(name) ?? 0]));
  };
  const connectedState = () => envoy.admin.stat('control_plane.connected_state');
  /**
   * Envoy is back once shardvoy serves its stream and Envoy says it is connected (Envoy sets
   * connected_state as it starts each attempt, so it flickers to 1 while nothing listens).
   */
  const untilReconnected = () =>
    eventually(async () => {
      expect((await shardvoy.xdsClients()).filter((client) => client.group === GROUP)).toHaveLength(1);
      expect(await connectedState()).toBe(1);
    }, 60_000, 50);
  const beat = (id: string, role: 'master' | 'replica', status = 'active') =>
    pump.set({ id, address: `127.0.0.1:${nodes.get(id)!.port}`, database: 'default', shard: 'shard0', role, epoch: 1, status });
  /**
   * Envoy resets its xDS reconnect backoff (0.5 s, doubling up to 30 s) only when it receives a
   * response, and a reconnect that changes nothing gets none; so, for a restart whose reconnect
   * must come soon, give it two: a replica goes draining and back (endpoints only, so clusters
   * and listeners keep their versions).
   */
  const resetEnvoyBackoff = async () => {
    const r1 = `127.0.0.1:${nodes.get('r1')!.port}`;
    for (const [status, health] of [['draining', 'DRAINING'], ['active', 'HEALTHY']] as const) {
      await beat('r1', 'replica', status);
      await eventually(async () => expect((await envoy.admin.clusterHosts('shard0-replicas')).find((h) => h.address === r1)?.health).toBe(health), 5_000);
    }
  };

  beforeAll(async () => {
    // One run of free ports: the shard's two listeners, then shardvoy's gRPC port.
    mastersPort = await freePortRun(3);
    grpcPort = mastersPort + 2;
    for (const id of ['m0', 'r0', 'r1']) nodes.set(id, await startIdNode(id));
    shardvoy = await start(true);
    // Heartbeats go to whichever shardvoy runs now (its HTTP port changes with each start).
    pump = new HeartbeatPump({ heartbeat: (body) => (heartbeatHold.held ? Promise.reject(new Error('held')) : shardvoy.heartbeat(body)) }, 300);
    await beat('m0', 'master');
    await beat('r0', 'replica');
    await beat('r1', 'replica');
    // The first start has no state file yet: it warms up for a lease before it answers.
    await eventually(async () => expect(await readyz()).toBe(200), 10_000, 100);
    envoy = await startGroupEnvoy(shardvoy, GROUP);
    await eventually(async () => expect((await envoy.admin.clusterHosts('shard0-masters')).map((h) => h.address)).toEqual([`127.0.0.1:${nodes.get('m0')!.port}`]), 10_000);
    await eventually(async () => expect((await envoy.admin.clusterHosts('shard0-replicas')).length).toBe(2), 5_000);
    await expectEnvoyInSync(envoy, shardvoy, GROUP);
  });

  afterAll(async () => {
    for (const probe of probes) await probe.stop();
    for (const connection of connections) connection.close();
    pump?.stop();
    await envoy?.stop();
    for (const instance of started) await instance.stop();
    for (const node of nodes.values()) await node.close();
    scratch.remove();
  });

  /** A long-lived connection through Envoy, and the node it reached. */
  const openConnection = async (port: number) => {
    const connection = await NodeConnection.open(port);
    connections.push(connection);
    return { connection, node: await connection.ask() };
  };

  it('(a) kill -9, then a restart from the state file: no connection fails, Envoy receives no change', async () => {
    // The state file must hold the nodes before the crash, or the restart has nothing to restore.
    await eventually(() => {
      expect(existsSync(stateFile)).toBe(true);
      const saved = JSON.parse(readFileSync(stateFile, 'utf8'));
      expect(saved.nodes.map((n: { id: string }) => n.id).sort()).toEqual(['m0', 'r0', 'r1']);
    }, 5_000, 100);
    const toMaster = await openConnection(mastersPort);
    const toReplica = await openConnection(mastersPort + 1);
    expect(toMaster.node).toBe('m0');
    await resetEnvoyBackoff();
    const churnBefore = await churn();
    const before = await envoy.admin.xdsState();

    const probe = new TrafficProbe(mastersPort);
    probes.push(probe);
    await sleep(300);
    const killedAt = Date.now();
    await shardvoy.kill('SIGKILL');
    // Envoy must notice, or this test would prove nothing about a reconnect.
    await eventually(async () => expect(await connectedState()).toBe(0), 5_000, 20);
    const disconnectedAt = Date.now();

    shardvoy = await start(true);
    const listeningAt = Date.now();
    expect(shardvoy.run.lines.some((line) => line.msg === 'state loaded; every node has a fresh lease' && line.nodes === 3), 'the restart loaded the 3 nodes').toBe(true);
    // A start from state skips the warm-up.
    expect(await readyz()).toBe(200);
    await untilReconnected();
    const reconnectedAt = Date.now();
    // Traffic on after the reconnect too: whatever the new instance sends must not disturb it.
    await sleep(1_500);
    await probe.stop();

    const failed = probe.attempts.filter((a) => a.answer !== 'm0');
    printFigure('restart-from-state', {
      killToEnvoyDisconnectedMs: disconnectedAt - killedAt,
      killToListeningMs: listeningAt - killedAt,
      listeningToReconnectedMs: reconnectedAt - listeningAt,
      outageToReconnectedMs: reconnectedAt - killedAt,
      attempts: probe.attempts.length,
      notAnsweredByMaster: failed.length,
    });
    expect(probe.attempts.length).toBeGreaterThan(50);
    expect(failed, 'connections through Envoy that did not reach the master').toEqual([]);
    expect(await toMaster.connection.ask()).toBe('m0');
    expect(await toReplica.connection.ask()).toBe(toReplica.node);

    await expectEnvoyInSync(envoy, shardvoy, GROUP, { timeoutMs: 10_000 });
    const after = await envoy.admin.xdsState();
    expect(await churn(), 'listeners and clusters added/modified/removed').toEqual(churnBefore);
    expect({ cds: after.cdsVersion, lds: after.ldsVersion }).toEqual({ cds: before.cdsVersion, lds: before.ldsVersion });
    expect(after.activeListeners).toEqual(before.activeListeners);
    expect(after.activeClusters).toEqual(before.activeClusters);
  });

  it('(b) a restart without state: the warm-up holds, and Envoy never receives an empty cluster', async () => {
    const churnBefore = await churn();
    const before = await envoy.admin.xdsState();
    const masters = [`127.0.0.1:${nodes.get('m0')!.port}`];
    const replicas = [nodes.get('r0')!, nodes.get('r1')!].map((n) => `127.0.0.1:${n.port}`).sort();

    // What Envoy holds, every 50 ms, through the restarts, the warm-ups and after.
    const samples: Array<{ at: number; masters: number; replicas: number; membership: number }> = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [m, r, stats] = await Promise.all([
          envoy.admin.clusterHosts('shard0-masters'),
          envoy.admin.clusterHosts('shard0-replicas'),
          envoy.admin.text('/stats?filter=membership_total'),
        ]);
        const membership = Number(/cluster\.shard0-masters\.membership_total: (\d+)/.exec(stats)?.[1] ?? 0);
        samples.push({ at: Date.now(), masters: m.length, replicas: r.length, membership });
        await sleep(50);
      }
    })();
    const probe = new TrafficProbe(mastersPort);
    probes.push(probe);
    await sleep(300);

    /**
     * The danger the warm-up guards against: Envoy reconnects before the nodes' next heartbeats
     * reach the new instance. So heartbeats resume only once Envoy's stream is there, or after
     * three quarters of a lease (nodes heartbeat within a lease) if Envoy's backoff is longer.
     */
    const restartWithoutState = async () => {
      await resetEnvoyBackoff();
      const hold = { held: true };
      heartbeatHold = hold;
      const stoppedAt = Date.now();
      await shardvoy.kill('SIGTERM');
      shardvoy = await start(false);
      const listeningAt = Date.now();
      expect(shardvoy.run.lines.some((line) => String(line.msg).startsWith('warming up')), 'the fresh start warms up').toBe(true);
      const warming = await fetch(`${shardvoy.baseUrl}/readyz`);
      expect(warming.status).toBe(503);
      expect((await warming.json()).message ?? '').toMatch(/warm/);
      const ready = eventually(async () => {
        expect(await readyz()).toBe(200);
        return Date.now();
      }, LEASE_SECONDS * 1_000 + 10_000, 50);
      ready.catch(() => undefined);
      const resumed = sleep(LEASE_SECONDS * 750).then(() => (hold.held = false));
      await untilReconnected();
      const reconnectedAt = Date.now();
      const envoyBackFirst = hold.held;
      await Promise.race([sleep(500), resumed]);
      hold.held = false;
      const readyAt = await ready;
      await expectEnvoyInSync(envoy, shardvoy, GROUP, { timeoutMs: 10_000 });
      return {
        stopToListeningMs: listeningAt - stoppedAt,
        listeningToReconnectedMs: reconnectedAt - listeningAt,
        envoyBackBeforeHeartbeats: envoyBackFirst,
        listeningToReadyMs: readyAt - listeningAt,
        samplesDuringWarmup: samples.filter((s) => s.at >= reconnectedAt && s.at < readyAt).length,
      };
    };
    const restarts: Array<Awaited<ReturnType<typeof restartWithoutState>>> = [];
    do restarts.push(await restartWithoutState());
    while (!restarts.at(-1)!.envoyBackBeforeHeartbeats && restarts.length < 3);
    await sleep(1_500);
    sampling = false;
    await sampler;
    await probe.stop();

    const failed = probe.attempts.filter((a) => a.answer !== 'm0');
    printFigure('restart-without-state', {
      restarts,
      samples: samples.length,
      minMasters: Math.min(...samples.map((s) => s.masters)),
      minReplicas: Math.min(...samples.map((s) => s.replicas)),
      minMembershipTotal: Math.min(...samples.map((s) => s.membership)),
      attempts: probe.attempts.length,
      notAnsweredByMaster: failed.length,
    });
    expect(restarts.some((r) => r.envoyBackBeforeHeartbeats), 'in one restart at least, Envoy reconnected before the heartbeats (else nothing was at stake)').toBe(true);
    for (const restart of restarts) {
      // The warm-up lasted a lease from the start, not a moment.
      expect(restart.listeningToReadyMs).toBeGreaterThan(LEASE_SECONDS * 1_000 * 0.75);
      if (restart.envoyBackBeforeHeartbeats) expect(restart.samplesDuringWarmup).toBeGreaterThan(5);
    }
    expect(samples.filter((s) => s.masters === 0 || s.replicas === 0 || s.membership === 0), 'samples with an empty cluster').toEqual([]);
    expect(failed, 'connections through Envoy that did not reach the master').toEqual([]);

    // After the warm-up every node is there again, and Envoy got nothing new: the same registry
    // gives the same versions (contract 5.4).
    expect((await envoy.admin.clusterHosts('shard0-masters')).map((h) => h.address)).toEqual(masters);
    expect((await envoy.admin.clusterHosts('shard0-replicas')).map((h) => h.address).sort()).toEqual(replicas);
    const after = await envoy.admin.xdsState();
    expect(await churn(), 'listeners and clusters added/modified/removed').toEqual(churnBefore);
    expect({ cds: after.cdsVersion, lds: after.ldsVersion }).toEqual({ cds: before.cdsVersion, lds: before.ldsVersion });
  });
});
