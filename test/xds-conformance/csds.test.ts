/** CSDS: each connected client's config status per resource, as Envoy's tooling reads it over gRPC. */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLUSTER, ENDPOINT, LISTENER } from '../../src/envoy-api/type-urls.js';
import { clientConfig, matchesNodeId } from '../../src/xds/csds.js';
import { clientStatusService } from '../../src/xds/service-definitions.js';
import type { StreamStatus, TypeStatus } from '../../src/xds/stream-base.js';
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

  it('matches node ids as Envoy’s StringMatcher does: exact, prefix, suffix, contains, ignoring case if asked; a regex matches nothing', () => {
    const id = 'Envoy-Edge-7';
    expect(matchesNodeId(null, id)).toBe(true);
    expect([matchesNodeId({ exact: 'Envoy-Edge-7', match_pattern: 'exact' }, id), matchesNodeId({ exact: 'Envoy-Edge', match_pattern: 'exact' }, id)]).toEqual([true, false]);
    expect([matchesNodeId({ prefix: 'Envoy-', match_pattern: 'prefix' }, id), matchesNodeId({ prefix: 'Edge', match_pattern: 'prefix' }, id)]).toEqual([true, false]);
    expect([matchesNodeId({ suffix: '-7', match_pattern: 'suffix' }, id), matchesNodeId({ suffix: 'Edge', match_pattern: 'suffix' }, id)]).toEqual([true, false]);
    expect([matchesNodeId({ contains: 'Edge', match_pattern: 'contains' }, id), matchesNodeId({ contains: 'edge', match_pattern: 'contains' }, id)]).toEqual([true, false]);
    expect(matchesNodeId({ contains: 'EDGE', ignore_case: true, match_pattern: 'contains' }, id)).toBe(true);
    expect(matchesNodeId({ exact: 'envoy-edge-7', ignore_case: true, match_pattern: 'exact' }, id)).toBe(true);
    expect(matchesNodeId({ match_pattern: 'safe_regex' }, id)).toBe(false);
  });

  it('gives each type its client status (REQUESTED, ACKED, NACKED), when it was last sent, and the rejection', () => {
    const type = (t: Partial<TypeStatus>): TypeStatus => ({
      subscribed: '*', configStatus: 'STALE', lastSentVersion: 'v1', lastSentNonce: '1', lastSentAt: undefined, lastAckedVersion: undefined,
      awaitingReplySince: undefined, lastNack: undefined, nackRetries: 0, nextRetryAt: undefined, ...t,
    });
    const status: StreamStatus = {
      streamId: 7, protocol: 'sotw', nodeId: 'envoy-1', group: 'edge', peer: '10.0.0.7:5000', connectedSince: '2026-01-02T03:00:00.000Z',
      types: {
        [CLUSTER]: type({ configStatus: 'SYNCED', lastAckedVersion: 'v1', lastSentAt: '2026-01-02T03:04:05.678Z' }),
        [LISTENER]: type({ configStatus: 'ERROR', lastNack: { version: 'v2', message: 'cannot bind', at: '2026-01-02T03:04:06.001Z' } }),
        // NACKed once, since then sent a newer version: no error state.
        [ENDPOINT]: type({ configStatus: 'STALE', lastNack: { version: 'v0', message: 'old', at: '2026-01-02T03:00:00.000Z' } }),
      },
    };
    const value = Uint8Array.from([1, 2]);
    const held = (typeUrl: string) => (typeUrl === CLUSTER ? [{ name: 'a', version: 'h1', value }] : []);
    const config = clientConfig({ status, held }, { node_matchers: [], exclude_resource_contents: false });
    expect(config!.node).toEqual({ id: 'envoy-1', cluster: 'edge' });
    expect(config!.client_scope).toBe('stream-7');
    expect(config!.generic_xds_configs).toEqual([
      { type_url: CLUSTER, config_status: 'SYNCED', client_status: 'ACKED', last_updated: { seconds: 1767323045, nanos: 678_000_000 }, name: 'a', version_info: 'h1', xds_config: { type_url: CLUSTER, value } },
      { type_url: ENDPOINT, config_status: 'STALE', client_status: 'REQUESTED', name: '', version_info: 'v1' },
      {
        type_url: LISTENER, config_status: 'ERROR', client_status: 'NACKED', name: '', version_info: 'v1',
        error_state: { details: 'cannot bind', version_info: 'v2', last_update_attempt: { seconds: 1767323046, nanos: 1_000_000 } },
      },
    ]);
  });
});
