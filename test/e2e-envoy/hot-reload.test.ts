/**
 * Hot reload on a real Envoy (issue scenario 8; README "Hot reload"): shardvoy re-reads its
 * configuration file when it changes (editors' and ConfigMaps' rename-over writes as well as
 * in-place ones) and on SIGHUP. Moving a shard to a new port, adding a shard and removing one
 * must show in what Envoy listens on, with nothing rejected and nothing left warming, while the
 * connections held on listeners the change did not touch stay open and keep reaching the same
 * node.
 */
import { renameSync, symlinkSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { expectEnvoyInSync } from '../support/envoy-checks.js';
import { startGroupEnvoy, type EnvoyProcess } from '../support/envoy.js';
import { freePortRun } from '../support/free-ports.js';
import { eventually, HeartbeatPump } from '../support/harness.js';
import { NodeConnection, startIdNode, whoAnswers, type IdNode } from '../support/id-nodes.js';
import { scratchDir, startShardvoyProcess, type ShardvoyProcess } from '../support/shardvoy-process.js';
import { waitUntilPort } from '../support/tcp-echo.js';
import { printFigure } from '../support/traffic.js';

const GROUP = 'edge';
/** Envoy's drain time: a listener that is removed or rebuilt closes its connections after it. */
const DRAIN_SECONDS = 1;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Shard = { name: string; listen: string; clusters: string[] };
const shard = (name: string, port: number, roles: ReadonlyArray<'masters' | 'replicas'> = ['masters', 'replicas']): Shard => ({
  name,
  listen: `0.0.0.0:${port}`,
  clusters: roles.map((role) => `${name}-${role}`),
});
const configText = (shards: Shard[]) =>
  stringify({ registry: { warmupSeconds: 0 }, groups: [{ name: GROUP, database: 'default', shards }] });

/** When Envoy last (re)built each of its dynamic listeners and clusters, from /config_dump. */
async function lastUpdated(envoy: EnvoyProcess): Promise<Record<string, string>> {
  const configs = await envoy.admin.configDump();
  const listeners = configs.find((c) => c['@type'].endsWith('ListenersConfigDump'))?.dynamic_listeners ?? [];
  const clusters = configs.find((c) => c['@type'].endsWith('ClustersConfigDump'))?.dynamic_active_clusters ?? [];
  const updated: Record<string, string> = Object.fromEntries([
    ...listeners.filter((l: any) => l.active_state).map((l: any) => [`listener ${l.name}`, l.active_state.last_updated]),
    ...clusters.map((c: any) => [`cluster ${c.cluster.name}`, c.last_updated]),
  ]);
  for (const [name, at] of Object.entries(updated)) expect(at, `${name}: last_updated`).toMatch(/^\d{4}-\d\d-\d\dT/);
  return updated;
}

/** Shared by both layouts: a shardvoy on `configFile`, its nodes heartbeating, one Envoy. */
function hotReloadRig(nodeShards: Record<string, { shard: string; role: 'master' | 'replica' }>) {
  const rig = {
    shardvoy: undefined as unknown as ShardvoyProcess,
    envoy: undefined as unknown as EnvoyProcess,
    nodes: new Map<string, IdNode>(),
    connections: [] as NodeConnection[],
    pump: undefined as HeartbeatPump | undefined,
    async start(configFile: string) {
      for (const id of Object.keys(nodeShards)) rig.nodes.set(id, await startIdNode(id));
      rig.shardvoy = await startShardvoyProcess({ configFile });
      rig.pump = new HeartbeatPump(rig.shardvoy, 1_000);
      for (const [id, { shard, role }] of Object.entries(nodeShards)) {
        await rig.pump.set({ id, address: `127.0.0.1:${rig.nodes.get(id)!.port}`, database: 'default', shard, role, epoch: 1 });
      }
      rig.envoy = await startGroupEnvoy(rig.shardvoy, GROUP, { drainTimeSeconds: DRAIN_SECONDS });
    },
    /** A long-lived connection through Envoy; it must reach `expected`. */
    async hold(port: number, expected: string) {
      const connection = await NodeConnection.open(port);
      rig.connections.push(connection);
      expect(await connection.ask()).toBe(expected);
      return connection;
    },
    reloads: () => rig.shardvoy.run.lines.filter((line) => line.msg === 'configuration reloaded').length,
    refused: () => rig.shardvoy.run.lines.filter((line) => String(line.msg).startsWith('configuration reload refused')),
    /** Applies a change by `write`, and waits until shardvoy says it reloaded. */
    async reload(write: () => void) {
      const before = rig.reloads();
      write();
      await eventually(() => expect(rig.reloads(), 'configuration reloaded (log lines)').toBeGreaterThan(before), 5_000, 50);
      expect(rig.refused(), 'reloads refused').toEqual([]);
    },
    async listenersAre(expected: Record<string, number>) {
      const want = new Map(Object.entries(expected).map(([name, port]) => [name, `0.0.0.0:${port}`]));
      await eventually(async () => expect(await rig.envoy.admin.listeners()).toEqual(want), 10_000, 50);
    },
    async stop() {
      for (const connection of rig.connections) connection.close();
      rig.pump?.stop();
      await rig.envoy?.stop();
      await rig.shardvoy?.stop();
      for (const node of rig.nodes.values()) await node.close();
    },
  };
  return rig;
}

describe('hot reload of the configuration file, on a real Envoy', () => {
  const scratch = scratchDir();
  const configFile = path.join(scratch.dir, 'shardvoy.yaml');
  const rig = hotReloadRig({
    's0-m': { shard: 'shard0', role: 'master' },
    's0-r': { shard: 'shard0', role: 'replica' },
    's1-m': { shard: 'shard1', role: 'master' },
    's2-m': { shard: 'shard2', role: 'master' },
    's2-r': { shard: 'shard2', role: 'replica' },
  });
  let base: number;
  /** shard0: base, base+1 (never touched); shard1: base+2, moved to base+3; shard2: base+4, base+5. */
  const port = {
    get shard0() {
      return base;
    },
    get shard1() {
      return base + 2;
    },
    get shard1Moved() {
      return base + 3;
    },
    get shard2() {
      return base + 4;
    },
  };
  let untouched: Array<{ connection: NodeConnection; node: string }> = [];
  const figures: Record<string, number> = {};

  /** An editor's or a ConfigMap's save: a new file beside the old, renamed over it. */
  const renameOver = (text: string) => () => {
    const temp = path.join(scratch.dir, `.shardvoy.yaml.${process.pid}.tmp`);
    writeFileSync(temp, text);
    renameSync(temp, configFile);
  };
  const inPlace = (text: string) => () => writeFileSync(configFile, text);

  /** After each change: Envoy in sync, and every connection on an untouched listener still open. */
  const expectUntouchedKept = async (before: Record<string, string>, untouchedShards: readonly string[]) => {
    await expectEnvoyInSync(rig.envoy, rig.shardvoy, GROUP, { timeoutMs: 10_000 });
    // Past the drain time, so a listener rebuilt by mistake would have closed its connections.
    await sleep(DRAIN_SECONDS * 1_000 + 500);
    for (const { connection, node } of untouched) {
      expect(connection.isClosed, `connection to ${node} closed`).toBe(false);
      expect(await connection.ask()).toBe(node);
    }
    const after = await lastUpdated(rig.envoy);
    for (const name of Object.keys(before).filter((key) => untouchedShards.some((s) => key.includes(`${s}-`)))) {
      expect(after[name], `${name} rebuilt by Envoy`).toBe(before[name]);
    }
  };

  beforeAll(async () => {
    base = await freePortRun(6);
    writeFileSync(configFile, configText([shard('shard0', port.shard0), shard('shard1', port.shard1, ['masters'])]));
    await rig.start(configFile);
    await rig.listenersAre({ 'shard0-masters': port.shard0, 'shard0-replicas': port.shard0 + 1, 'shard1-masters': port.shard1 });
    await expectEnvoyInSync(rig.envoy, rig.shardvoy, GROUP, { timeoutMs: 10_000 });
    untouched = [
      { connection: await rig.hold(port.shard0, 's0-m'), node: 's0-m' },
      { connection: await rig.hold(port.shard0 + 1, 's0-r'), node: 's0-r' },
    ];
  });

  afterAll(async () => {
    if (Object.keys(figures).length > 0) printFigure('hot-reload', figures);
    await rig.stop();
    scratch.remove();
  });

  it('(1) moves a shard to a new port (a file renamed over the old one): Envoy listens there, the old port closes', async () => {
    const before = await lastUpdated(rig.envoy);
    const changedAt = Date.now();
    await rig.reload(renameOver(configText([shard('shard0', port.shard0), shard('shard1', port.shard1Moved, ['masters'])])));
    await rig.listenersAre({ 'shard0-masters': port.shard0, 'shard0-replicas': port.shard0 + 1, 'shard1-masters': port.shard1Moved });
    expect(await whoAnswers(port.shard1Moved)).toBe('s1-m');
    figures.moveListeningMs = Date.now() - changedAt;
    await waitUntilPort('refusing', port.shard1, '127.0.0.1', 10_000);
    figures.moveOldPortClosedMs = Date.now() - changedAt;
    await expectUntouchedKept(before, ['shard0']);
  });

  it('(2) adds a shard (the file written in place): Envoy listens on its ports and routes to its nodes', async () => {
    // A connection on the moved shard's listener, untouched from now on.
    untouched.push({ connection: await rig.hold(port.shard1Moved, 's1-m'), node: 's1-m' });
    const before = await lastUpdated(rig.envoy);
    const changedAt = Date.now();
    await rig.reload(inPlace(configText([shard('shard0', port.shard0), shard('shard1', port.shard1Moved, ['masters']), shard('shard2', port.shard2)])));
    await rig.listenersAre({
      'shard0-masters': port.shard0,
      'shard0-replicas': port.shard0 + 1,
      'shard1-masters': port.shard1Moved,
      'shard2-masters': port.shard2,
      'shard2-replicas': port.shard2 + 1,
    });
    await eventually(async () => {
      expect(await whoAnswers(port.shard2)).toBe('s2-m');
      expect(await whoAnswers(port.shard2 + 1)).toBe('s2-r');
    }, 5_000, 50);
    figures.addRoutingMs = Date.now() - changedAt;
    await expectUntouchedKept(before, ['shard0', 'shard1']);
  });

  it('(3) removes a shard (renamed over again): its ports close, the rest stays', async () => {
    const toShard1 = untouched.find((u) => u.node === 's1-m')!;
    untouched = untouched.filter((u) => u !== toShard1);
    untouched.push({ connection: await rig.hold(port.shard2, 's2-m'), node: 's2-m' });
    const before = await lastUpdated(rig.envoy);
    const changedAt = Date.now();
    await rig.reload(renameOver(configText([shard('shard0', port.shard0), shard('shard2', port.shard2)])));
    await rig.listenersAre({
      'shard0-masters': port.shard0,
      'shard0-replicas': port.shard0 + 1,
      'shard2-masters': port.shard2,
      'shard2-replicas': port.shard2 + 1,
    });
    await waitUntilPort('refusing', port.shard1Moved, '127.0.0.1', 10_000);
    figures.removePortClosedMs = Date.now() - changedAt;
    await expectUntouchedKept(before, ['shard0', 'shard2']);
    await eventually(async () => expect((await rig.envoy.admin.xdsState()).activeClusters).toEqual(['shard0-masters', 'shard0-replicas', 'shard2-masters', 'shard2-replicas']), 10_000, 50);
    // Envoy drains the removed listener: the connection it held there ends within the drain time.
    figures.removedListenerConnectionClosedMs = (await Promise.race([toShard1.connection.closed, sleep(10_000).then(() => NaN)])) - changedAt;
  });

  it('(4) SIGHUP with the file unchanged reloads, and Envoy receives no change', async () => {
    const before = await lastUpdated(rig.envoy);
    const stateBefore = await rig.envoy.admin.xdsState();
    await rig.reload(() => rig.shardvoy.run.child.kill('SIGHUP'));
    expect(rig.shardvoy.run.child.exitCode, 'shardvoy still runs after SIGHUP').toBeNull();
    await expectUntouchedKept(before, ['shard0', 'shard2']);
    expect(await lastUpdated(rig.envoy)).toEqual(before);
    const stateAfter = await rig.envoy.admin.xdsState();
    expect({ cds: stateAfter.cdsVersion, lds: stateAfter.ldsVersion }).toEqual({ cds: stateBefore.cdsVersion, lds: stateBefore.ldsVersion });
  });
});

/**
 * A Kubernetes ConfigMap volume: the file is a symlink through `..data`, and an update swaps
 * `..data` to a new folder by renaming a fresh symlink over it; the file itself is never written.
 */
describe('hot reload from a ConfigMap volume, on a real Envoy', () => {
  const scratch = scratchDir();
  const volume = path.join(scratch.dir, 'config');
  const configFile = path.join(volume, 'shardvoy.yaml');
  const rig = hotReloadRig({ 's0-m': { shard: 'shard0', role: 'master' }, 's1-m': { shard: 'shard1', role: 'master' } });
  let base: number;
  let generation = 0;

  /** What the kubelet does: a new timestamped folder, a `..data_tmp` symlink to it, renamed over `..data`. */
  const publish = (text: string) => {
    const folder = `..generation_${++generation}`;
    mkdirSync(path.join(volume, folder));
    writeFileSync(path.join(volume, folder, 'shardvoy.yaml'), text);
    symlinkSync(folder, path.join(volume, '..data_tmp'));
    renameSync(path.join(volume, '..data_tmp'), path.join(volume, '..data'));
  };

  beforeAll(async () => {
    base = await freePortRun(3);
    mkdirSync(volume);
    publish(configText([shard('shard0', base, ['masters'])]));
    symlinkSync('..data/shardvoy.yaml', configFile);
    await rig.start(configFile);
    await rig.listenersAre({ 'shard0-masters': base });
    await expectEnvoyInSync(rig.envoy, rig.shardvoy, GROUP, { timeoutMs: 10_000 });
  });

  afterAll(async () => {
    await rig.stop();
    scratch.remove();
  });

  it('an update of the ConfigMap adds a shard; the connection on the untouched listener stays', async () => {
    const held = await rig.hold(base, 's0-m');
    const before = await lastUpdated(rig.envoy);
    await rig.reload(() => publish(configText([shard('shard0', base, ['masters']), shard('shard1', base + 1, ['masters'])])));
    await rig.listenersAre({ 'shard0-masters': base, 'shard1-masters': base + 1 });
    await eventually(async () => expect(await whoAnswers(base + 1)).toBe('s1-m'), 5_000, 50);
    await expectEnvoyInSync(rig.envoy, rig.shardvoy, GROUP, { timeoutMs: 10_000 });
    await sleep(DRAIN_SECONDS * 1_000 + 500);
    expect(held.isClosed).toBe(false);
    expect(await held.ask()).toBe('s0-m');
    expect((await lastUpdated(rig.envoy))['listener shard0-masters']).toBe(before['listener shard0-masters']);
  });
});
