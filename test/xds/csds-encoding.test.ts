/**
 * CSDS answers are encoded a client at a time, handing the event loop back between slices of
 * work (issue 11: a flood of status requests over 500 streams held heartbeats for 140 ms).
 */
import { describe, expect, it } from 'vitest';
import { envoyType } from '../../src/envoy-api/protos.js';
import { CLUSTER, LISTENER } from '../../src/envoy-api/type-urls.js';
import { CSDS_SLICE_MS, clientConfig, encodeClientStatus, type ClientStatusRequest, type ClientView } from '../../src/xds/csds.js';
import type { StreamStatus, TypeStatus } from '../../src/xds/stream-base.js';

const response = envoyType('envoy.service.status.v3.ClientStatusResponse');

const type = (t: Partial<TypeStatus>): TypeStatus => ({
  subscribed: '*', configStatus: 'SYNCED', lastSentVersion: 'v1', lastSentNonce: '1', lastSentAt: '2026-01-02T03:04:05.678Z', lastAckedVersion: 'v1',
  awaitingReplySince: undefined, lastNack: undefined, nackRetries: 0, nextRetryAt: undefined, ...t,
});

function client(n: number): ClientView {
  const status: StreamStatus = {
    streamId: n, protocol: 'sotw', nodeId: `envoy-${n}`, group: 'edge', peer: `10.0.0.${n}:5000`, connectedSince: '2026-01-02T03:00:00.000Z',
    types: { [CLUSTER]: type({}), [LISTENER]: type({ configStatus: 'STALE', lastAckedVersion: undefined }) },
  };
  const held = (typeUrl: string) => (typeUrl === CLUSTER ? [{ name: `c${n}`, version: `h${n}`, value: Uint8Array.from([8, n]) }] : []);
  return { status, held };
}

const everyone: ClientStatusRequest = { node_matchers: [], exclude_resource_contents: false };
// Bytes as base64 on both sides: decoding gives Buffers where the object form holds Uint8Arrays.
const OBJECT_OPTIONS = { enums: String, longs: Number, bytes: String, defaults: false };
const decoded = (bytes: Uint8Array) => response.toObject(response.decode(bytes), OBJECT_OPTIONS);
/** The answer listing `clients`, each client's part in its object form. */
const answerOf = (clients: readonly ClientView[], request: ClientStatusRequest) =>
  response.toObject(response.fromObject({ config: clients.map((c) => clientConfig(c, request)) }), OBJECT_OPTIONS);

describe('encodeClientStatus', () => {
  it('encodes what the object form holds, client by client, in order', async () => {
    const clients = [1, 2, 3].map(client);
    const bytes = await encodeClientStatus(clients, everyone);
    expect(decoded(bytes)).toEqual(answerOf(clients, everyone));
    expect(decoded(bytes).config.map((c: { client_scope: string }) => c.client_scope)).toEqual(['stream-1', 'stream-2', 'stream-3']);
  });

  it('selects by node id and leaves contents out when asked', async () => {
    const clients = [1, 2, 3, 12].map(client);
    const request: ClientStatusRequest = { node_matchers: [{ node_id: { match_pattern: 'prefix', prefix: 'envoy-1' } }], exclude_resource_contents: true };
    const bytes = await encodeClientStatus(clients, request);
    expect(decoded(bytes)).toEqual(answerOf([clients[0]!, clients[3]!], request));
    expect(decoded(bytes).config.map((c: { node: { id: string } }) => c.node.id)).toEqual(['envoy-1', 'envoy-12']);
    const entries = decoded(bytes).config.flatMap((c: { generic_xds_configs: object[] }) => c.generic_xds_configs);
    expect(entries.filter((e: object) => 'xds_config' in e)).toEqual([]);
  });

  it('is an empty answer with no clients', async () => {
    expect((await encodeClientStatus([], everyone)).length).toBe(0);
  });

  it(`hands the event loop back after each ${CSDS_SLICE_MS} ms of work, not before`, async () => {
    // Each reading of the clock is 1 ms later: a slice is over after a few clients.
    let now = 0;
    const turns: number[] = [];
    const clients = Array.from({ length: 40 }, (_, i) => client(i + 1));
    const bytes = await encodeClientStatus(clients, everyone, {
      now: () => now++,
      pause: async () => void turns.push(now),
    });
    expect(decoded(bytes).config).toHaveLength(40);
    // Each client is one reading, so 1 ms of work: a turn after every CSDS_SLICE_MS clients.
    expect(turns.length).toBe(40 / CSDS_SLICE_MS);
  });

  it('takes no turn when the work fits one slice', async () => {
    let turns = 0;
    await encodeClientStatus([1, 2, 3].map(client), everyone, { now: () => 0, pause: async () => void turns++ });
    expect(turns).toBe(0);
  });

  it('reads a client when its turn comes: one that changes meanwhile is encoded as it is then', async () => {
    const first = client(1);
    let late = client(2);
    const lazy: ClientView = { get status() { return late.status; }, held: (t) => late.held(t) };
    let now = 0;
    const bytes = await encodeClientStatus([first, lazy], everyone, {
      now: () => (now += CSDS_SLICE_MS),
      pause: async () => {
        late = client(7);
      },
    });
    expect(decoded(bytes).config.map((c: { client_scope: string }) => c.client_scope)).toEqual(['stream-1', 'stream-7']);
  });
});
