/**
 * gRPC's own xDS client (@grpc/grpc-js-xds), dialing xds:///shard0-masters through a proxyless
 * group, must land on the shard's master, and on the new master after a failover, without a restart.
 */
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HeartbeatPump, startTestShardvoy, type Running } from '../support/harness.js';

// A one-method service with raw-bytes messages: the test needs no .proto of its own.
const WHO = {
  path: '/shardvoy.test.Identity/Who',
  requestStream: false,
  responseStream: false,
  requestSerialize: (value: Buffer) => value,
  requestDeserialize: (value: Buffer) => value,
  responseSerialize: (value: Buffer) => value,
  responseDeserialize: (value: Buffer) => value,
} as const;
const IdentityClient = grpc.makeGenericClientConstructor({ Who: WHO }, 'Identity');

async function identityServer(name: string): Promise<{ port: number; stop: () => void }> {
  const server = new grpc.Server();
  server.addService({ Who: WHO }, { Who: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => callback(null, Buffer.from(name)) });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) => (error ? reject(error) : resolve(p))),
  );
  return { port, stop: () => server.forceShutdown() };
}

function who(client: grpc.Client): Promise<string> {
  return new Promise((resolve, reject) => {
    const call = (client as unknown as Record<string, Function>).Who!.bind(client);
    // Generous: the first call waits for the xDS chain (LDS, RDS, CDS, EDS) on a loaded machine.
    call(Buffer.alloc(0), { deadline: Date.now() + 10_000, waitForReady: true }, (error: grpc.ServiceError | null, reply: Buffer) =>
      error ? reject(error) : resolve(reply.toString()),
    );
  });
}

describe('proxyless gRPC clients through @grpc/grpc-js-xds', () => {
  let running: Running | undefined;
  let pump: HeartbeatPump | undefined;
  const cleanups: Array<() => void> = [];

  beforeAll(() => grpcXds.register());

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) cleanup();
    pump?.stop();
    await running?.stop();
  });

  it('reaches the master of shard0, then the new master after a failover, with no client restart', async () => {
    running = await startTestShardvoy({
      registry: { leaseSeconds: 1, expiredRetentionSeconds: 60 },
      groups: [{ name: 'grpc-clients', dc: 'dc1', proxyless: true, shards: [{ name: 'shard0', clusters: ['shard0-masters', 'shard0-replicas'] }] }],
    });
    const alpha = await identityServer('alpha');
    const beta = await identityServer('beta');
    cleanups.push(alpha.stop, beta.stop);
    pump = new HeartbeatPump(running, 200);
    // alpha is in another DC than the group: it still serves, at priority 0, since gRPC needs one.
    await pump.set({ id: 'alpha', address: `127.0.0.1:${alpha.port}`, database: 'default', shard: 'shard0', role: 'master', dc: 'dc2', epoch: 1 });
    await pump.set({ id: 'beta', address: `127.0.0.1:${beta.port}`, database: 'default', shard: 'shard0', role: 'replica', dc: 'dc1' });

    const bootstrap = {
      xds_servers: [{ server_uri: running.grpcAddress, channel_creds: [{ type: 'insecure' }], server_features: [] }],
      node: { id: 'grpc-clients', cluster: 'grpc-clients', locality: {} },
    };
    const client = new IdentityClient('xds:///shard0-masters', grpc.credentials.createInsecure(), {
      'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': JSON.stringify(bootstrap),
    });
    cleanups.unshift(() => client.close());

    expect(await who(client)).toBe('alpha');
    const replicas = new IdentityClient('xds:///shard0-replicas', grpc.credentials.createInsecure(), {
      'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': JSON.stringify(bootstrap),
    });
    cleanups.unshift(() => replicas.close());
    expect(await who(replicas)).toBe('beta');

    // beta is elected: higher epoch. alpha keeps heartbeating but is fenced.
    await pump.set({ id: 'beta', address: `127.0.0.1:${beta.port}`, database: 'default', shard: 'shard0', role: 'master', dc: 'dc1', epoch: 2 });
    const deadline = Date.now() + 5_000;
    let answer = await who(client);
    while (answer !== 'beta' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      answer = await who(client);
    }
    expect(answer).toBe('beta');
    // Every later call lands on the new master too.
    for (let i = 0; i < 5; i++) expect(await who(client)).toBe('beta');

    const status = await running.getJson('/v1/xds/clients');
    expect(status.clients.map((c: any) => c.group)).toContain('grpc-clients');
  });
});
