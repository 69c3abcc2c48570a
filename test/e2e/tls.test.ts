/**
 * TLS on both ports, and mTLS on xDS: a client without a certificate, or with one from another CA,
 * cannot open a stream; a sidecar with a certificate from the configured CA is served.
 */
import * as grpc from '@grpc/grpc-js';
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLUSTER } from '../../src/envoy-api/type-urls.js';
import { aggregatedService } from '../../src/xds/service-definitions.js';
import { makeTestPki, type TestPki } from '../support/certs.js';
import { startTestShardvoy, type Running } from '../support/harness.js';

const AdsClient = grpc.makeClientConstructor(aggregatedService(), 'AggregatedDiscoveryService');

/** Opens an ADS stream with these credentials; resolves with the first response or the status that ended it. */
function firstAnswer(address: string, credentials: grpc.ChannelCredentials): Promise<{ response?: any; status?: grpc.StatusObject }> {
  const client = new AdsClient(address, credentials, { 'grpc.ssl_target_name_override': 'localhost' });
  const call = (client as unknown as Record<string, () => grpc.ClientDuplexStream<object, any>>).StreamAggregatedResources!.call(client);
  return new Promise((resolve) => {
    const done = (result: { response?: any; status?: grpc.StatusObject }) => {
      call.cancel();
      client.close();
      resolve(result);
    };
    call.on('data', (response) => done({ response }));
    call.on('status', (status) => done({ status }));
    call.on('error', () => undefined);
    call.write({ node: { id: 'edge' }, type_url: CLUSTER, resource_names: [] });
  });
}

function httpsGet(url: string, ca: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, servername: 'localhost' }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('TLS and mTLS', () => {
  let pki: TestPki;
  let running: Running;

  beforeAll(async () => {
    pki = makeTestPki();
    const tls = { cert: pki.serverCert, key: pki.serverKey };
    running = await startTestShardvoy({
      http: { listen: '127.0.0.1:0', tls },
      grpc: { listen: '127.0.0.1:0', tls: { ...tls, ca: pki.caCert, requireClientCert: true } },
      groups: [{ name: 'edge', shards: [{ name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters'] }] }],
    });
  });
  afterAll(() => running.stop());

  it('serves the HTTP API over TLS', async () => {
    const response = await httpsGet(`https://127.0.0.1:${running.shardvoy.http.port}/clusters`, pki.pem(pki.caCert));
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body).clusters[0].name).toBe('shard0-masters');
  });

  it('serves an xDS client presenting a certificate from the configured CA', async () => {
    const credentials = grpc.credentials.createSsl(pki.pem(pki.caCert), pki.pem(pki.clientKey), pki.pem(pki.clientCert));
    const { response, status } = await firstAnswer(running.grpcAddress, credentials);
    expect(status).toBeUndefined();
    expect(response.type_url).toBe(CLUSTER);
    expect(response.resources).toHaveLength(1);
  });

  it('refuses an xDS client without a certificate', async () => {
    const { response, status } = await firstAnswer(running.grpcAddress, grpc.credentials.createSsl(pki.pem(pki.caCert)));
    expect(response).toBeUndefined();
    expect(status?.code).toBe(grpc.status.UNAVAILABLE);
  });

  it('refuses an xDS client whose certificate another CA signed', async () => {
    const credentials = grpc.credentials.createSsl(pki.pem(pki.caCert), pki.pem(pki.strangerKey), pki.pem(pki.strangerCert));
    const { response, status } = await firstAnswer(running.grpcAddress, credentials);
    expect(response).toBeUndefined();
    expect(status?.code).toBe(grpc.status.UNAVAILABLE);
  });

  it('refuses a plaintext xDS client', async () => {
    const { response, status } = await firstAnswer(running.grpcAddress, grpc.credentials.createInsecure());
    expect(response).toBeUndefined();
    expect(status?.code).toBe(grpc.status.UNAVAILABLE);
  });
});
