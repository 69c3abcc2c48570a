/**
 * `shardvoy state import` against a real etcd (contract 14): the state file a real memory-store
 * shardvoy wrote goes into etcd with the real CLI; a shardvoy on that etcd then routes the
 * imported nodes at once, with the ports they had, and expires those that never heartbeat; a
 * second import is refused and changes nothing; one cut short is finished with --merge; a file
 * larger than one transaction goes in several, each within etcd's 128 operations.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImportFailedError, importState, type ImportOptions } from '../../src/registry/etcd/state-import.js';
import { parseState, serializeState } from '../../src/registry/state-file.js';
import { runCli } from '../support/cli-process.js';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';
import { eventually, HeartbeatPump, startTestShardvoy } from '../support/harness.js';
import { printFigure } from '../support/traffic.js';

const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-state-import-'));
const groups = [
  { name: 'local-group', shards: [{ name: 'shard0', listen: '127.0.0.1:10000', clusters: ['shard0-masters', 'shard0-replicas'] }] },
  { name: 'privatelink', database: 'default', advertisedHost: 'kafka.test.com', nodeListeners: { ports: '6001-6400' } },
];
const beat = (id: string, port: number, role: string, epoch = 1) => ({ id, address: `127.0.0.1:${port}`, database: 'default', shard: 'shard0', role, dc: 'dc1', epoch });

/** The configuration the etcd instances run with, as a file for the CLI and an object for the harness. */
function etcdConfig(cluster: EtcdCluster, prefix: string, leaseSeconds: number) {
  // Without self-preservation: two of three nodes falling silent would engage it (as in memory).
  const raw = { registry: { store: 'etcd', leaseSeconds, selfPreservation: { enabled: false }, etcd: { endpoints: cluster.endpoints, prefix } }, groups };
  const file = path.join(dir, `config-${prefix.replace(/\//g, '')}.json`);
  writeFileSync(file, JSON.stringify(raw));
  return { raw, file };
}

async function importCli(...args: string[]) {
  const run = runCli(['state', 'import', ...args]);
  const code = await run.exited;
  return { code, stdout: run.stdout, stderr: run.stderr };
}

describe('shardvoy state import into a real etcd', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  /** Every key under a prefix with its mod revision and value. */
  const dump = async (prefix: string) =>
    (await client.getAll().prefix(prefix).exec()).kvs.map((kv) => `${kv.key.toString()} ${kv.mod_revision} ${kv.value.toString()}`).sort();

  beforeAll(async () => {
    cluster = await startEtcd({ members: 1 });
    client = new Etcd3({ hosts: cluster.clientUrls });
  });

  afterAll(async () => {
    client?.close();
    await cluster?.stop();
  });

  it('moves a memory store into etcd: the imported nodes route at once with their ports; a second import is refused and changes nothing', async () => {
    // 1. One instance on the memory store, with a state file, hears three nodes and a fourth it later forgets.
    const stateFile = path.join(dir, 'state.json');
    const memory = await startTestShardvoy({ registry: { stateFile, leaseSeconds: 30 }, groups });
    for (const body of [beat('dkv-a1', 9001, 'master'), beat('dkv-a2', 9002, 'replica'), beat('dkv-a3', 9003, 'replica'), beat('dkv-old', 9004, 'replica')]) {
      expect((await memory.heartbeat(body)).status).toBe(200);
    }
    expect((await fetch(`${memory.baseUrl}/v1/nodes/dkv-old`, { method: 'DELETE' })).status).toBe(200);
    const advertisedBefore = await memory.getJson('/v1/advertised?group=privatelink');
    expect(advertisedBefore).toEqual({ 'dkv-a1': 'kafka.test.com:6001', 'dkv-a2': 'kafka.test.com:6002', 'dkv-a3': 'kafka.test.com:6003' });
    await memory.stop();
    // An entry no heartbeat could have made (edited by hand): dropped, named.
    const saved = JSON.parse(readFileSync(stateFile, 'utf8'));
    saved.nodes.push({ ...saved.nodes[0], id: 'forged', role: 'leader' });
    writeFileSync(stateFile, JSON.stringify(saved));

    // 2. Import into etcd.
    const { raw, file } = etcdConfig(cluster, '/move/', 12);
    const dry = await importCli('--config', file, '--dry-run', stateFile);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('would import 3 nodes and 4 ports');
    expect(await dump('/move/')).toEqual([]);

    const startedAt = Date.now();
    const imported = await importCli('--config', file, stateFile);
    printFigure('state-import', { nodes: 3, ports: 4, ms: Date.now() - startedAt });
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stderr).toBe('');
    const lines = imported.stdout.trim().split('\n');
    expect(lines).toEqual([
      'dropped nodes[3] id "forged": nodes[3].role: must be equal to one of the allowed values (role: master or replica)',
      `imported 3 nodes and 4 ports into etcd (${cluster.endpoints[0]}) under /move/ in 1 transaction; 1 entry dropped, 0 already there; every node has a fresh 12 s lease`,
    ]);

    // Every node has its document, its alive key on a lease of its own of leaseSeconds; the forgotten node's port is held.
    const keys = (await client.getAll().prefix('/move/').keys()).sort();
    expect(keys).toEqual([
      '/move/alive/dkv-a1',
      '/move/alive/dkv-a2',
      '/move/alive/dkv-a3',
      '/move/nodes/dkv-a1',
      '/move/nodes/dkv-a2',
      '/move/nodes/dkv-a3',
      '/move/ports/privatelink/6001',
      '/move/ports/privatelink/6002',
      '/move/ports/privatelink/6003',
      '/move/ports/privatelink/6004',
    ]);
    const leases = await Promise.all(
      ['dkv-a1', 'dkv-a2', 'dkv-a3'].map(async (id) => JSON.parse((await client.get(`/move/nodes/${id}`).string())!).lease as string),
    );
    expect(new Set(leases).size).toBe(3);
    for (const lease of leases) {
      const ttl = await client.leaseClient.leaseTimeToLive({ ID: lease });
      expect(Number(ttl.grantedTTL)).toBe(12);
      expect(Number(ttl.TTL)).toBeGreaterThan(0);
    }
    expect(JSON.parse((await client.get('/move/ports/privatelink/6004').string())!)).toMatchObject({ nodeId: 'dkv-old', releasedAtMs: expect.any(Number) });

    // 3. A second import, without --merge: refused, nothing changed.
    // (Alive keys end with their leases meanwhile, which moves etcd's revision: compared are the
    // documents and ports with their mod revisions, and no alive key may appear.)
    const durable = (lines: string[]) => lines.filter((line) => !line.startsWith('/move/alive/'));
    const alive = async () => (await dump('/move/alive/')).map((line) => line.split(' ')[0]!);
    const before = await dump('/move/');
    const aliveBefore = await alive();
    const again = await importCli('--config', file, stateFile);
    expect(again.code).toBe(1);
    expect(again.stderr.trim()).toBe(
      `shardvoy: state import: etcd (${cluster.endpoints[0]}) already holds a registry under /move/: 3 nodes and 4 ports; nothing was written. ` +
        'Use another registry.etcd.prefix, or --merge to add the entries it does not hold (those it holds are kept and named)',
    );
    expect(again.stdout).toBe('');
    expect(durable(await dump('/move/'))).toEqual(durable(before));
    // With --merge: everything is there already, so it is named and nothing is written.
    const merged = await importCli('--merge', '--config', file, stateFile);
    expect(merged.code, merged.stderr).toBe(0);
    expect(merged.stdout).toContain('kept node "dkv-a1": already in etcd; kept as it is there');
    expect(merged.stdout).toContain('imported 0 nodes and 0 ports');
    expect(durable(await dump('/move/'))).toEqual(durable(before));
    expect(aliveBefore).toEqual(expect.arrayContaining(await alive()));

    // 4. An instance on that etcd routes them at once, with their ports, without a heartbeat.
    const shared = await startTestShardvoy(raw);
    try {
      await eventually(async () => {
        const clusters = (await shared.getJson('/clusters')).clusters as any[];
        const endpoints = clusters.flatMap((c) => c.endpoints.map((e: any) => [c.name, e.id, e.health, e.routed, e.advertised?.privatelink]));
        expect(endpoints).toEqual([
          ['shard0-masters', 'dkv-a1', 'healthy', true, 'kafka.test.com:6001'],
          ['shard0-replicas', 'dkv-a2', 'healthy', true, 'kafka.test.com:6002'],
          ['shard0-replicas', 'dkv-a3', 'healthy', true, 'kafka.test.com:6003'],
        ]);
      }, 10_000);
      expect(await shared.getJson('/v1/advertised?group=privatelink')).toEqual(advertisedBefore);

      // 5. The node that heartbeats keeps its port and stays; the others, silent, expire by the judge.
      const pump = new HeartbeatPump(shared, 500);
      try {
        await pump.set(beat('dkv-a1', 9001, 'master'));
        await eventually(async () => {
          const replicas = ((await shared.getJson('/clusters')).clusters as any[]).find((c) => c.name === 'shard0-replicas');
          expect(replicas.endpoints.map((e: any) => e.health)).toEqual(['expired', 'expired']);
        }, 60_000, 250);
        const masters = ((await shared.getJson('/clusters')).clusters as any[]).find((c) => c.name === 'shard0-masters');
        expect(masters.endpoints.map((e: any) => [e.id, e.health, e.advertised?.privatelink])).toEqual([['dkv-a1', 'healthy', 'kafka.test.com:6001']]);
      } finally {
        pump.stop();
      }
    } finally {
      await shared.stop();
    }
  });

  it('writes a file larger than one transaction in several; one cut short is finished with --merge, naming what was there', async () => {
    const nodes = Array.from({ length: 300 }, (_, i) => ({
      id: `n${i}`,
      address: `10.0.${Math.floor(i / 200)}.${(i % 200) + 1}:9092`,
      host: `10.0.${Math.floor(i / 200)}.${(i % 200) + 1}`,
      port: 9092,
      database: 'default',
      shard: 'shard0',
      role: i % 3 === 0 ? ('master' as const) : ('replica' as const),
      status: 'active' as const,
      dc: undefined,
      epoch: i,
      labels: {},
      firstSeenMs: 1,
    }));
    const all = path.join(dir, 'big.json');
    writeFileSync(all, serializeState({ nodes, ports: [] }, Date.now()));
    // The first 100 only: as if an import had stopped after its first transactions.
    const part = path.join(dir, 'part.json');
    writeFileSync(part, serializeState({ nodes: nodes.slice(0, 100), ports: [] }, Date.now()));
    const { file } = etcdConfig(cluster, '/big/', 10);

    const first = await importCli('--config', file, part);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout.trim()).toMatch(/^imported 100 nodes and 100 ports .* in 3 transactions;/);

    const refused = await importCli('--config', file, all);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('already holds a registry under /big/: 100 nodes and 100 ports');

    const rest = await importCli('--merge', '--config', file, all);
    expect(rest.code, rest.stderr).toBe(0);
    const lines = rest.stdout.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('kept node'))).toHaveLength(100);
    // 200 nodes, each with its alive key and port: 3 operations, 42 to a transaction.
    expect(lines.at(-1)).toMatch(/^imported 200 nodes and 200 ports .* in 5 transactions; 0 entries dropped, 100 already there;/);

    const keys = await client.getAll().prefix('/big/').keys();
    expect(keys.filter((k) => k.startsWith('/big/nodes/'))).toHaveLength(300);
    expect(keys.filter((k) => k.startsWith('/big/alive/')).length).toBeGreaterThanOrEqual(200);
    const ports = (await client.getAll().prefix('/big/ports/').strings()) as Record<string, string>;
    expect(Object.keys(ports)).toHaveLength(300);
    // Never one port for two nodes.
    expect(new Set(Object.values(ports).map((v) => JSON.parse(v).nodeId)).size).toBe(300);
  });
  describe('importState when etcd changes under it or fails', () => {
    const pools = [{ group: 'privatelink', database: 'default', frontEnds: [{ advertisedHost: 'kafka.test.com', firstPort: 6001, lastPort: 6400 }] }];
    const stored = (id: string, i: number) => ({
      id,
      address: `10.1.0.${i + 1}:9092`,
      host: `10.1.0.${i + 1}`,
      port: 9092,
      database: 'default',
      shard: 'shard0',
      role: 'replica' as const,
      status: 'active' as const,
      dc: undefined,
      epoch: 1,
      labels: {},
      firstSeenMs: 1,
    });
    const fileOf = (count: number) => {
      const parsed = parseState(serializeState({ nodes: Array.from({ length: count }, (_, i) => stored(`r${i}`, i)), ports: [] }, Date.now()));
      if (parsed.kind !== 'loaded') throw new Error(parsed.reason);
      return parsed;
    };
    /** The real client, but `beforeTxn` runs before each transaction (and may replace it). */
    const wrapped = (beforeTxn: (n: number, txn: () => Promise<any>) => Promise<any>) => {
      let n = 0;
      const kv = new Proxy(client.kv, {
        get: (target, prop) => (prop === 'txn' ? (req: any, opts: any) => beforeTxn(++n, () => target.txn(req, opts)) : (target as any)[prop]),
      });
      return { kv, leaseClient: client.leaseClient } as unknown as Etcd3;
    };
    const options = (prefix: string, over: Partial<ImportOptions>): ImportOptions => ({
      client,
      prefix,
      leaseSeconds: 30,
      portPools: pools,
      portReuseSeconds: 86_400,
      merge: false,
      dryRun: false,
      nowMs: Date.now(),
      where: cluster.endpoints[0]!,
      ...over,
    });

    it('names a node another instance registered meanwhile, and a port it took, and writes the rest without them', async () => {
      const client2 = wrapped(async (n, txn) => {
        if (n === 1) {
          // An instance hears r1 and gives a new node the port r2 was to get, between the read and the write.
          await client.put('/race/nodes/r1').value(JSON.stringify({ node: stored('r1', 1), lease: '1' }));
          await client.put('/race/ports/privatelink/6003').value(JSON.stringify({ nodeId: 'x9', advertisedHost: 'kafka.test.com' }));
        }
        return txn();
      });
      const report = await importState(fileOf(3), options('/race/', { client: client2 }));
      expect(report.existing).toEqual([{ entry: 'node "r1"', reason: 'written to etcd by another while importing; kept as it is there' }]);
      expect(report.dropped).toEqual([{ entry: 'port of node "r2" in group "privatelink"', reason: 'port 6003 was taken in etcd by node "x9" while importing' }]);
      expect(report).toMatchObject({ nodes: 2, ports: 1, transactions: 1 });
      expect((await client.getAll().prefix('/race/').keys()).sort()).toEqual([
        '/race/alive/r0',
        '/race/alive/r2',
        '/race/nodes/r0',
        '/race/nodes/r1',
        '/race/nodes/r2',
        '/race/ports/privatelink/6001',
        '/race/ports/privatelink/6003',
      ]);
      expect(JSON.parse((await client.get('/race/ports/privatelink/6003').string())!).nodeId).toBe('x9');
    });

    it('counts as written a transaction whose answer was lost and whose retry was refused (its own keys)', async () => {
      const client2 = wrapped(async (n, txn) => {
        const first = await txn();
        // etcd3 retried a call whose answer did not arrive: the retry finds every key there.
        return n === 1 ? { ...first, succeeded: false } : first;
      });
      const report = await importState(fileOf(2), options('/lost/', { client: client2 }));
      expect(report).toMatchObject({ nodes: 2, ports: 2, transactions: 1, existing: [], dropped: [] });
      const leases = await Promise.all(['r0', 'r1'].map(async (id) => JSON.parse((await client.get(`/lost/nodes/${id}`).string())!).lease as string));
      for (const lease of leases) expect(Number((await client.leaseClient.leaseTimeToLive({ ID: lease })).TTL)).toBeGreaterThan(0);
    });

    it('stops at a failed transaction with what was written, whole, and a run with merge finishes it', async () => {
      const failing = wrapped(async (n, txn) => {
        if (n === 2) throw new Error('connection reset');
        return txn();
      });
      // 60 nodes with a port each: 42 to a transaction.
      const file = fileOf(60);
      const error = await importState(file, options('/cut/', { client: failing })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ImportFailedError);
      expect((error as ImportFailedError).written).toEqual({ nodes: 42, ports: 42, transactions: 1 });
      expect((error as Error).message).toMatch(/failed in transaction 2 of 2: connection reset; written before: 42 nodes and 42 ports in 1 transactions, each whole\. Run the same command with --merge/);
      const keys = await client.getAll().prefix('/cut/').keys();
      expect(keys.filter((k) => k.startsWith('/cut/nodes/'))).toHaveLength(42);
      expect(keys.filter((k) => k.startsWith('/cut/ports/'))).toHaveLength(42);

      const rest = await importState(file, options('/cut/', { merge: true }));
      expect(rest).toMatchObject({ nodes: 18, ports: 18, transactions: 1 });
      expect(rest.existing.filter((e) => e.entry.startsWith('node '))).toHaveLength(42);
      const ports = Object.values((await client.getAll().prefix('/cut/ports/').strings()) as Record<string, string>).map((v) => JSON.parse(v).nodeId);
      expect(ports.sort()).toEqual(file.state.nodes.map((n) => n.id).sort());
    });
  });
});
