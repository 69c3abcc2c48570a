/**
 * The seeds' problem, for real (issue 13): Kafka clients in another network reach every broker
 * through Envoy. Three Apache Kafka 4.x brokers (KRaft, combined broker+controller) on loopback,
 * each advertising on its EXTERNAL listener the address its `shardvoy agent` rendered before it
 * started; shardvoy with the PrivateLink-style group of deploy/kafka/shardvoy.yaml; one real Envoy
 * for that group on the host end of a veth pair; a real Kafka client (kafkajs) in the network
 * namespace at the other end, which reaches Envoy and nothing else.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startGroupEnvoy, type EnvoyProcess } from '../support/envoy.js';
import { freePortRun } from '../support/free-ports.js';
import { eventually } from '../support/harness.js';
import { KafkaCluster, NamespaceKafkaClient } from '../support/kafka.js';
import { createOtherNetwork, type OtherNetwork } from '../support/netns.js';
import { ROOT } from '../support/readme.js';
import { scratchDir, startShardvoyProcess, type ShardvoyProcess } from '../support/shardvoy-process.js';
import { printFigure } from '../support/traffic.js';

const GROUP = 'privatelink';
const TOPIC = 'orders';
const MESSAGES = 10_000;

interface PartitionInfo {
  partition: number;
  leader: number;
  isr: number[];
  replicas: number[];
}
interface Produced {
  acked: number[];
  failed: number[];
  unconfirmed: number[];
  renewed: number;
  errors: string[];
}

describe('Kafka behind PrivateLink: a client in another network reaches every broker through Envoy', { timeout: 240_000 }, () => {
  const scratch = scratchDir();
  const stateFile = path.join(scratch.dir, 'state', 'shardvoy-state.json');
  const started: ShardvoyProcess[] = [];
  const acked = new Set<number>();
  let network: OtherNetwork;
  let shardvoy: ShardvoyProcess;
  let envoy: EnvoyProcess;
  let kafka: KafkaCluster;
  let client: NamespaceKafkaClient;
  let bootstrapPort: number;
  let firstNodePort: number;
  let httpPort: number;
  let nextSeq = 0;
  let groups = 0;
  const advertisedAtStart = new Map<number, string>();

  /** deploy/kafka/shardvoy.yaml, with this run's addresses, ports and state file. */
  const config = () => {
    const file = parse(readFileSync(path.join(ROOT, 'deploy', 'kafka', 'shardvoy.yaml'), 'utf8'));
    const group = file.groups[0];
    expect(group.name).toBe(GROUP);
    return {
      ...file,
      http: { listen: `127.0.0.1:${httpPort}` },
      grpc: { listen: `127.0.0.1:${httpPort + 1}` },
      registry: { ...file.registry, stateFile, warmupSeconds: 0 },
      groups: [
        {
          ...group,
          advertisedHost: network.hostAddress,
          bootstrapListener: `${network.hostAddress}:${bootstrapPort}`,
          nodeListeners: { listenHost: network.hostAddress, ports: `${firstNodePort}-${firstNodePort + 9}` },
        },
      ],
    };
  };
  const startShardvoy = async () => {
    const instance = await startShardvoyProcess({ config: config(), args: [] });
    started.push(instance);
    return instance;
  };
  const advertised = async (): Promise<Record<string, string>> => shardvoy.getJson(`/v1/advertised?group=${GROUP}`);
  const metadata = (topic = TOPIC) => client.call<PartitionInfo[]>('metadata', { topic });
  const produce = async (name: string, count: number, options: { topic?: string; partitions?: number; batch?: number; pauseMs?: number } = {}) => {
    const from = nextSeq;
    nextSeq += count;
    await client.call('startProducing', { name, topic: options.topic ?? TOPIC, partitions: options.partitions ?? 6, from, count, batch: options.batch ?? 100, pauseMs: options.pauseMs ?? 0 });
  };
  const finish = async (name: string, into: Set<number> = acked): Promise<Produced> => {
    const result = await client.call<Produced>('finishProducing', { name });
    for (const n of result.acked) into.add(n);
    return result;
  };
  /**
   * Messages kafkajs wrote twice while a broker died (fault 1). Its idempotent producer is marked
   * experimental, and it shows: a retry across the leader change can land a batch again. Counted
   * and printed; any other duplicate fails the check.
   */
  const duplicatedByKafkajs = new Set<number>();
  /**
   * Reads the topic whole: every acknowledged message must be there (count and checksum), and
   * exactly once, but for duplicates already known (or, with allowNewDuplicates, found now).
   */
  const consumeAndCheck = async (topic = TOPIC, expected: Set<number> = acked, allowNewDuplicates = false) => {
    const { values, logSize } = await client.call<{ values: number[]; logSize: number }>('consumeAll', { topic, groupId: `check-${++groups}`, timeoutMs: 60_000 });
    const counts = new Map<number, number>();
    for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
    const lost = [...expected].filter((n) => !counts.has(n));
    const duplicated = [...expected].filter((n) => (counts.get(n) ?? 0) > 1);
    const sum = (ns: Iterable<number>) => [...ns].reduce((s, n) => s + n, 0);
    const checksum = sum([...counts.keys()].filter((n) => expected.has(n)));
    expect(values.length).toBe(logSize);
    expect({ lost: lost.length, firstLost: lost.slice(0, 5) }).toEqual({ lost: 0, firstLost: [] });
    const newDuplicates = duplicated.filter((n) => !duplicatedByKafkajs.has(n));
    if (allowNewDuplicates) for (const n of newDuplicates) duplicatedByKafkajs.add(n);
    else expect({ duplicated: newDuplicates.length, firstDuplicated: newDuplicates.slice(0, 5) }).toEqual({ duplicated: 0, firstDuplicated: [] });
    expect(duplicated.every((n) => counts.get(n) === 2)).toBe(true);
    expect(checksum).toBe(sum(expected));
    return { consumed: values.length, lost: lost.length, duplicated: duplicated.length, unacknowledgedInLog: values.length - expected.size - duplicated.length };
  };

  beforeAll(async () => {
    network = await createOtherNetwork();
    bootstrapPort = await freePortRun(1);
    firstNodePort = await freePortRun(10);
    httpPort = await freePortRun(2, '127.0.0.1');
    shardvoy = await startShardvoy();
    kafka = new KafkaCluster({ basePort: await freePortRun(12, '127.0.0.1'), maxBrokers: 4, controllers: 3, shardvoyUrl: shardvoy.baseUrl, group: GROUP });
    envoy = await startGroupEnvoy(shardvoy, GROUP);
    const startedAt = Date.now();
    for (const [nodeId, address] of await kafka.startBrokers([1, 2, 3])) advertisedAtStart.set(nodeId, address);
    printFigure('kafka-brokers-started', { brokers: 3, ms: Date.now() - startedAt });
    await eventually(async () => expect((await envoy.admin.listeners()).size).toBe(4), 20_000, 100);
    client = await NamespaceKafkaClient.start(network.name, `${network.hostAddress}:${bootstrapPort}`);
  }, 180_000);

  afterAll(async () => {
    await client?.close().catch(() => undefined);
    await kafka?.stop();
    await envoy?.stop();
    for (const instance of started) await instance.stop().catch(() => undefined);
    await network?.remove();
    scratch.remove();
  }, 60_000);

  it("each broker advertises the port its agent got, and the brokers' own ports are unreachable from the client's network", async () => {
    const ports = await advertised();
    expect(Object.keys(ports).sort()).toEqual(['broker-1', 'broker-2', 'broker-3']);
    for (const [nodeId, address] of advertisedAtStart) {
      expect(ports[`broker-${nodeId}`]).toBe(address);
      expect(readFileSync(kafka.brokers.get(nodeId)!.propertiesFile, 'utf8')).toContain(`advertised.listeners=INTERNAL://127.0.0.1:${kafka.brokers.get(nodeId)!.internalPort},EXTERNAL://${address}\n`);
      expect((await envoy.admin.listeners()).get(`node-broker-${nodeId}`)).toBe(address);
    }
    expect(Object.values(ports).sort()).toEqual([0, 1, 2].map((i) => `${network.hostAddress}:${firstNodePort + i}`));
    // The cluster, as the client sees it: every broker at its advertised address.
    const brokers = await client.call<Array<{ nodeId: number; host: string; port: number }>>('brokers');
    expect(brokers.map((b) => `${b.nodeId}@${b.host}:${b.port}`).sort()).toEqual([1, 2, 3].map((id) => `${id}@${ports[`broker-${id}`]}`));
    for (const broker of kafka.brokers.values()) {
      for (const port of [broker.internalPort, broker.controllerPort, broker.externalPort]) {
        await expect(network.client.ask('127.0.0.1', port)).rejects.toThrow(/ECONNREFUSED/);
        await expect(network.client.ask(network.hostAddress, port)).rejects.toThrow(/ECONNREFUSED/);
      }
    }
  });

  it('creates a topic, produces 10,000 keyed messages with acks=all and consumes every one exactly once', async () => {
    await client.call('createTopic', { topic: TOPIC, partitions: 6, replicationFactor: 3 });
    const partitions = await metadata();
    expect(partitions).toHaveLength(6);
    expect(new Set(partitions.map((p) => p.leader))).toEqual(new Set([1, 2, 3]));
    for (const p of partitions) expect(p.replicas.sort()).toEqual([1, 2, 3]);
    const startedAt = Date.now();
    await produce('first', MESSAGES);
    const produced = await finish('first');
    const produceMs = Date.now() - startedAt;
    expect(produced.failed).toEqual([]);
    expect(produced.unconfirmed).toEqual([]);
    expect(produced.acked).toHaveLength(MESSAGES);
    const check = await consumeAndCheck();
    expect(check.consumed).toBe(MESSAGES);
    const stats = await envoy.admin.stats();
    for (const nodeId of [1, 2, 3]) expect(stats.get(`cluster.node-broker-${nodeId}.upstream_cx_total`) ?? 0).toBeGreaterThan(0);
    printFigure('kafka-through-envoy', { produced: produced.acked.length, consumed: check.consumed, lost: check.lost, duplicated: check.duplicated, produceMs, leaders: partitions.map((p) => p.leader) });
  });

  it('fault 1: a broker killed (SIGKILL) during produce: its leaders move, the client goes on, no acknowledged message is lost', async () => {
    const victim = 2;
    await produce('during-kill', MESSAGES, { batch: 50, pauseMs: 5 });
    await eventually(async () => expect((await client.call('producing', { name: 'during-kill' })).acked).toBeGreaterThan(1_000), 30_000, 50);
    const killedAt = Date.now();
    await kafka.kill(victim, 'SIGKILL');
    await eventually(async () => {
      const partitions = await metadata();
      expect(partitions.filter((p) => p.leader === victim || p.leader < 0)).toEqual([]);
    }, 30_000, 100);
    const leadersMovedMs = Date.now() - killedAt;
    const ackedWhenMoved = (await client.call('producing', { name: 'during-kill' })).acked as number;
    const produced = await finish('during-kill');
    expect(produced.acked.length).toBeGreaterThan(ackedWhenMoved);
    // The client went on: nearly all of it acknowledged, the rest refused or unconfirmed, none lost.
    const summary = { acked: produced.acked.length, refused: produced.failed.length, unconfirmed: produced.unconfirmed.length, renewed: produced.renewed, errors: produced.errors };
    expect(produced.acked.length, JSON.stringify(summary)).toBeGreaterThan(MESSAGES * 0.9);
    const partitions = await metadata();
    expect(new Set(partitions.map((p) => p.leader))).toEqual(new Set([1, 3]));
    const check = await consumeAndCheck(TOPIC, acked, true);
    // Envoy stopped listening for the dead broker once its agent said so (it keeps its port).
    await eventually(async () => expect((await envoy.admin.listeners()).has(`node-broker-${victim}`)).toBe(false), 10_000, 100);
    expect((await advertised())[`broker-${victim}`]).toBe(advertisedAtStart.get(victim));
    printFigure('kafka-broker-killed', { acknowledged: produced.acked.length, refused: produced.failed.length, unconfirmed: produced.unconfirmed.length, newProducers: produced.renewed, ackedAfterLeadersMoved: produced.acked.length - ackedWhenMoved, consumed: check.consumed, lost: check.lost, duplicated: check.duplicated, leadersMovedMs });
  });

  it('fault 2: the broker restarted gets the same port from its agent, Envoy listens for it again, and it rejoins every ISR', async () => {
    const victim = 2;
    const restartedAt = Date.now();
    expect(await kafka.renderAdvertised(victim)).toBe(advertisedAtStart.get(victim));
    await kafka.start(victim);
    await eventually(async () => expect((await envoy.admin.listeners()).get(`node-broker-${victim}`)).toBe(advertisedAtStart.get(victim)), 15_000, 100);
    await eventually(async () => {
      for (const p of await metadata()) expect(p.isr.sort()).toEqual([1, 2, 3]);
    }, 60_000, 250);
    const rejoinedMs = Date.now() - restartedAt;
    const brokers = await client.call<Array<{ nodeId: number; host: string; port: number }>>('brokers');
    expect(brokers.find((b) => b.nodeId === victim)).toMatchObject({ host: network.hostAddress, port: Number(advertisedAtStart.get(victim)!.split(':')[1]) });
    printFigure('kafka-broker-restarted', { rejoinedMs });
  });

  it('fault 3: a fourth broker gets the next port, Envoy listens on it and the client reaches it, with no configuration change', async () => {
    const listenersBefore = await envoy.admin.listeners();
    const startedAt = Date.now();
    const advertisedNew = (await kafka.startBrokers([4])).get(4)!;
    expect(advertisedNew).toBe(`${network.hostAddress}:${firstNodePort + 3}`);
    await eventually(async () => expect((await envoy.admin.listeners()).get('node-broker-4')).toBe(advertisedNew), 15_000, 100);
    for (const [name, address] of listenersBefore) expect((await envoy.admin.listeners()).get(name)).toBe(address);
    // A topic led by the new broker: the client must reach it at its advertised address.
    await eventually(async () => expect((await client.call<Array<{ nodeId: number }>>('brokers')).map((b) => b.nodeId).sort()).toEqual([1, 2, 3, 4]), 30_000, 250);
    await client.call('createTopic', { topic: 'on-broker-4', replicaAssignment: [{ partition: 0, replicas: [4, 1, 3] }] });
    expect((await metadata('on-broker-4'))[0]!.leader).toBe(4);
    const before = await envoy.admin.stat('cluster.node-broker-4.upstream_cx_total');
    const seqs = new Set<number>();
    const from = nextSeq;
    await produce('on-broker-4', 500, { topic: 'on-broker-4', partitions: 1 });
    const produced = await finish('on-broker-4', seqs);
    const reachableMs = Date.now() - startedAt;
    expect(produced.acked).toHaveLength(500);
    expect(Math.min(...produced.acked)).toBe(from);
    const check = await consumeAndCheck('on-broker-4', seqs);
    expect(await envoy.admin.stat('cluster.node-broker-4.upstream_cx_total')).toBeGreaterThan(before);
    expect((await advertised())['broker-4']).toBe(advertisedNew);
    printFigure('kafka-broker-added', { reachableMs, produced: produced.acked.length, consumed: check.consumed, lost: check.lost });
  });

  it('fault 4: shardvoy killed (kill -9) and restarted from its state file: the brokers keep their ports, client traffic through Envoy goes on', async () => {
    const portsBefore = await advertised();
    const listenersBefore = await envoy.admin.listeners();
    await produce('during-restart', 4_000, { batch: 20, pauseMs: 10 });
    await eventually(async () => expect((await client.call('producing', { name: 'during-restart' })).acked).toBeGreaterThan(200), 30_000, 50);
    const killedAt = Date.now();
    await shardvoy.kill('SIGKILL');
    const ackedAtKill = (await client.call('producing', { name: 'during-restart' })).acked as number;
    shardvoy = await startShardvoy();
    const restartMs = Date.now() - killedAt;
    const ackedAtRestart = (await client.call('producing', { name: 'during-restart' })).acked as number;
    expect(await advertised()).toEqual(portsBefore);
    // The agents renew on the new instance; Envoy reconnects and nothing it holds changes.
    await eventually(async () => expect((await shardvoy.xdsClients()).filter((c) => c.group === GROUP)).toHaveLength(1), 60_000, 100);
    expect(await envoy.admin.listeners()).toEqual(listenersBefore);
    const produced = await finish('during-restart');
    expect(produced.failed).toEqual([]);
    expect(produced.unconfirmed).toEqual([]);
    expect(ackedAtRestart).toBeGreaterThan(ackedAtKill);
    const check = await consumeAndCheck();
    expect(await advertised()).toEqual(portsBefore);
    expect(await envoy.admin.listeners()).toEqual(listenersBefore);
    printFigure('kafka-shardvoy-restarted', { restartMs, ackedWhileShardvoyDown: ackedAtRestart - ackedAtKill, produced: produced.acked.length, consumed: check.consumed, lost: check.lost, totalAcknowledged: acked.size });
  });
});
