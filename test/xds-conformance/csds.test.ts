/** CSDS: each connected client's config status per resource, as Envoy's tooling reads it over gRPC. */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLUSTER, LISTENER } from '../../src/envoy-api/type-urls.js';
import { clientStatusService } from '../../src/xds/service-definitions.js';
import { decodeToJson } from '../support/golden-json.js';
import { eventually } from '../support/harness.js';
import { RawSotwStream } from '../support/raw-xds.js';
import { snapshotOf } from '../support/snapshots.js';
import { startXdsServer } from '../support/xds-server.js';

const CsdsClient = grpc.makeClientConstructor(clientStatusService(), 'ClientStatusDiscoveryService');

describe('CSDS', () => {
  let xds: Awaited<ReturnType<typeof startXdsServer>>;
  let csds: grpc.Client & Record<string, Function>;
  const streams: RawSotwStream[] = [];

  beforeAll(async () => {
    xds = await startXdsServer(['edge']);
    xds.cache.publish(snapshotOf('edge', { clusters: { a: ['10.0.0.1:9000'] }, listeners: { 'listen-a': [10000, 'a'] } }));
    csds = new CsdsClient(xds.address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;

    // envoy-good ACKs its listeners; envoy-bad NACKs them.
    for (const [id, accept] of [['envoy-good', true], ['envoy-bad', false]] as const) {
      const stream = new RawSotwStream(xds.address);
      streams.push(stream);
      stream.request({ type_url: LISTENER, node: { id, cluster: 'edge' } });
      const lds = await stream.next();
      if (accept) stream.ack(lds);
      else stream.nack(lds, '', 'listener listen-a: address in use');
    }
    // Until the server has both answers (polled, not a fixed sleep).
    await eventually(() => expect(xds.server.clients().map((c) => c.types[LISTENER]?.configStatus).sort()).toEqual(['ERROR', 'SYNCED']));
  });
  afterAll(async () => {
    for (const stream of streams) {
      expect(stream.violations).toEqual([]);
      stream.close();
    }
    csds.close();
    await xds.server.close(200);
  });

  const fetch = (request: object) =>
    new Promise<any>((resolve, reject) => csds.FetchClientStatus!(request, (error: Error | null, value: any) => (error ? reject(error) : resolve(value))));

  it('reports a NACKing client as ERROR with the rejection, and an ACKing one as SYNCED', async () => {
    const response = await fetch({});
    const byNode = Object.fromEntries(response.config.map((c: any) => [c.node.id, c.generic_xds_configs]));
    expect(Object.keys(byNode).sort()).toEqual(['envoy-bad', 'envoy-good']);

    const good = byNode['envoy-good'].find((g: any) => g.type_url === LISTENER);
    expect(good).toMatchObject({ name: 'listen-a', config_status: 1 /* SYNCED */, client_status: 3 /* ACKED */ });
    expect(decodeToJson('envoy.config.listener.v3.Listener', good.xds_config.value).name).toBe('listen-a');

    const bad = byNode['envoy-bad'].find((g: any) => g.type_url === LISTENER);
    expect(bad).toMatchObject({ config_status: 4 /* ERROR */, client_status: 4 /* NACKED */ });
    expect(bad.error_state.details).toBe('listener listen-a: address in use');
    expect(byNode['envoy-bad'].some((g: any) => g.type_url === CLUSTER)).toBe(false);
  });

  it('selects clients by node id and can leave resource contents out', async () => {
    const response = await fetch({ node_matchers: [{ node_id: { prefix: 'envoy-g' } }], exclude_resource_contents: true });
    expect(response.config.map((c: any) => c.node.id)).toEqual(['envoy-good']);
    expect(response.config[0].generic_xds_configs[0].xds_config).toBeNull();
  });
});
