/**
 * `shardvoy demo`: N simulated nodes spread over the first Envoy group's shards, one master
 * per shard, the rest replicas, over two DCs. When a master's process dies, the supervisor plays
 * the store's leader election: it promotes a replica with the next epoch, and the old master,
 * should it come back, is fenced.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { Shardvoy } from '../main.js';
import { formatHostPort } from '../util/host-port.js';

interface SimulatedNode {
  readonly id: string;
  readonly shard: string;
  role: 'master' | 'replica';
  epoch: number;
  readonly process: ChildProcess;
  alive: boolean;
}

export interface DemoNodes {
  readonly nodes: readonly SimulatedNode[];
  stop(): Promise<void>;
}

export async function startDemoNodes(options: { shardvoy: Shardvoy; count: number; logger: Logger }): Promise<DemoNodes> {
  const { shardvoy, count, logger } = options;
  const group = shardvoy.config.groups.find((g) => !g.proxyless) ?? shardvoy.config.groups[0];
  if (!group) throw new Error('demo: the configuration has no group');
  const dcs = group.dc ? [group.dc, `${group.dc}-b`] : ['dc1', 'dc2'];
  const httpHost = ['0.0.0.0', '::'].includes(shardvoy.http.host) ? '127.0.0.1' : shardvoy.http.host;
  const heartbeatUrl = `http://${formatHostPort({ host: httpHost, port: shardvoy.http.port })}/v1/heartbeat`;
  const intervalMs = Math.max(200, (shardvoy.config.registry.leaseSeconds * 1000) / 3);
  const script = fileURLToPath(new URL(`./node-process${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));
  // Run from source (tests), the child needs the TypeScript loader; built, it is plain JS.
  const execArgv = script.endsWith('.ts') ? ['--import', 'tsx'] : [];

  const nodes: SimulatedNode[] = [];
  let stopping = false;
  for (let i = 0; i < count; i++) {
    const shard = group.shards[i % group.shards.length]!.name;
    const first = !nodes.some((n) => n.shard === shard);
    const id = `demo-${shard}-${nodes.filter((n) => n.shard === shard).length + 1}`;
    const spec = { id, database: group.database, shard, role: first ? 'master' : 'replica', epoch: 1, dc: dcs[i % dcs.length], heartbeatUrl, intervalMs };
    const child = fork(script, [JSON.stringify(spec)], { execArgv, stdio: 'inherit' });
    const node: SimulatedNode = { id, shard, role: first ? 'master' : 'replica', epoch: 1, process: child, alive: true };
    nodes.push(node);
    child.on('exit', () => {
      node.alive = false;
      if (stopping || node.role !== 'master') return;
      const successor = nodes.find((n) => n.alive && n.shard === node.shard && n.role === 'replica');
      if (!successor) return void logger.warn({ shard }, `master ${node.id} died and no replica is left to promote`);
      successor.role = 'master';
      successor.epoch = node.epoch + 1;
      successor.process.send({ promote: successor.epoch });
      logger.info({ shard, from: node.id, to: successor.id, epoch: successor.epoch }, `master ${node.id} died; promoting ${successor.id}`);
    });
  }
  return {
    nodes,
    stop: async () => {
      stopping = true;
      await Promise.all(
        nodes.filter((n) => n.alive).map((n) => new Promise<void>((resolve) => {
          n.process.once('exit', () => resolve());
          n.process.kill('SIGTERM');
        })),
      );
    },
  };
}
