/**
 * Issue 11, finding 2, as wired in the app: with auth.readToken set, CSDS (which shows node ids
 * and peers, as GET /v1/xds/clients does) needs the read or admin token (contract 9).
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientStatusService } from '../../src/xds/service-definitions.js';
import { startTestShardvoy, type Running } from '../support/harness.js';

const CsdsClient = grpc.makeClientConstructor(clientStatusService(), 'ClientStatusDiscoveryService');

describe('CSDS behind auth.readToken', () => {
  let running: Running;
  let client: grpc.Client & Record<string, Function>;

  beforeAll(async () => {
    running = await startTestShardvoy({
      auth: { readToken: 'reader', adminToken: 'admin' },
      groups: [{ name: 'edge', shards: [{ name: 'shard0', listen: '127.0.0.1:20000', clusters: ['shard0-masters'] }] }],
    });
    client = new CsdsClient(running.grpcAddress, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
  });

  afterAll(async () => {
    client?.close();
    await running?.stop();
  });

  const fetchWith = (token: string | undefined) =>
    new Promise<grpc.ServiceError | null>((resolve) => {
      const metadata = new grpc.Metadata();
      if (token) metadata.set('authorization', `Bearer ${token}`);
      client.FetchClientStatus!({ node_matchers: [] }, metadata, (error: grpc.ServiceError | null) => resolve(error));
    });

  it('refuses FetchClientStatus without a token or with a wrong one (UNAUTHENTICATED), answers the read and admin tokens', async () => {
    expect((await fetchWith(undefined))?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect((await fetchWith('wrong'))?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(await fetchWith('reader')).toBeNull();
    expect(await fetchWith('admin')).toBeNull();
  });

  it('refuses StreamClientStatus without a token', async () => {
    const call = client.StreamClientStatus!() as grpc.ClientDuplexStream<object, object>;
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      call.on('status', resolve);
      call.on('error', () => undefined);
      call.write({ node_matchers: [] });
    });
    expect(status.code).toBe(grpc.status.UNAUTHENTICATED);
    call.end();
  });
});
