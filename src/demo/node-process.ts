/**
 * One simulated node of `shardvoy demo`, in its own process so that `kill <pid>` is a real
 * node death: a TCP echo server on loopback that heartbeats to shardvoy until it is killed.
 * The supervisor promotes it to master over IPC when its shard's master dies.
 */
import { createServer, type AddressInfo } from 'node:net';
import { pino } from 'pino';

interface NodeSpec {
  id: string;
  database: string;
  shard: string;
  role: 'master' | 'replica';
  epoch: number;
  dc: string;
  heartbeatUrl: string;
  intervalMs: number;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as NodeSpec;
const logger = pino({ base: { pid: process.pid, component: 'demo-node', node: spec.id } });

const server = createServer((socket) => socket.pipe(socket));
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  const address = `127.0.0.1:${port}`;
  logger.info({ address, shard: spec.shard, role: spec.role, epoch: spec.epoch }, `simulated ${spec.role} ${spec.id} up; kill ${process.pid} to stop it`);

  const beat = async () => {
    const body = { id: spec.id, address, database: spec.database, shard: spec.shard, role: spec.role, epoch: spec.epoch, dc: spec.dc };
    try {
      const response = await fetch(spec.heartbeatUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (!response.ok) logger.warn({ status: response.status, body: await response.text() }, 'heartbeat refused');
    } catch (error) {
      logger.warn({ err: error }, 'heartbeat failed');
    }
  };
  void beat();
  setInterval(beat, spec.intervalMs);

  process.on('message', (message: { promote?: number }) => {
    if (typeof message.promote !== 'number') return;
    spec.role = 'master';
    spec.epoch = message.promote;
    logger.info({ epoch: spec.epoch }, `${spec.id} promoted to master`);
    void beat();
  });
});

process.on('SIGTERM', () => process.exit(0));
process.on('disconnect', () => process.exit(0));
