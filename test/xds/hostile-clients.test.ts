/**
 * Issue 11, findings 1-4, against the real xDS server in this process: every size a client can
 * make the server hold is bounded by a setting and refused with a status naming it; a client that
 * does not read gets no queue and is cut off after xds.writeTimeoutSeconds; CSDS asks for the read
 * token, has a request budget and backpressure; a refusal discloses no configuration to an
 * unauthenticated peer, reaches the client whatever it sent, and logs a bounded amount.
 */
import * as grpc from '@grpc/grpc-js';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import protobuf from 'protobufjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { XdsConfig } from '../../src/config/types.js';
import { CLUSTER, ENDPOINT, LISTENER } from '../../src/envoy-api/type-urls.js';
import { systemClock } from '../../src/registry/clock.js';
import { SnapshotCache } from '../../src/snapshot/cache.js';
import { RepeatLimiter, truncateForLog } from '../../src/util/log-limits.js';
import { unknownGroupMessage } from '../../src/xds/node-group.js';
import { checkNodeStrings, checkRequestBytes, DELTA_REQUEST_LAYOUT, SOTW_REQUEST_LAYOUT } from '../../src/xds/request-limits.js';
import { peerAddress, XdsServer } from '../../src/xds/server.js';
import { clientStatusService } from '../../src/xds/service-definitions.js';
import { makeTestPki } from '../support/certs.js';
import { eventually } from '../support/harness.js';
import { CSDS_PATH, DELTA_PATH, RawCall, SOTW_PATH } from '../support/hostile-client.js';
import { RawDeltaStream, RawSotwStream } from '../support/raw-xds.js';
import { snapshotOf } from '../support/snapshots.js';
import { DEFAULT_XDS_SETTINGS } from '../support/xds-server.js';

const CsdsClient = grpc.makeClientConstructor(clientStatusService(), 'ClientStatusDiscoveryService');

interface Started {
  server: XdsServer;
  cache: SnapshotCache;
  address: string;
  logLines: () => Record<string, any>[];
  logBytes: () => number;
}

const running: { close(): unknown }[] = [];
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.close();
});

async function start(settings: Partial<XdsConfig> = {}, extra: { readToken?: string; tls?: ReturnType<typeof makeTestPki> } = {}): Promise<Started> {
  let bytes = 0;
  const lines: Record<string, any>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      bytes += chunk.length;
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  const cache = new SnapshotCache();
  const server = new XdsServer({
    cache,
    groups: () => ['edge', 'secret-group'],
    clock: systemClock,
    logger: pino({ level: 'info' }, sink),
    version: 'test',
    settings: { ...DEFAULT_XDS_SETTINGS, ...settings },
    ...(extra.readToken
      ? { authorizeRead: (m: grpc.Metadata) => (m.get('authorization')[0] === `Bearer ${extra.readToken}` ? undefined : 'authorization: a valid Bearer token for read is required') }
      : {}),
    ...(extra.tls
      ? { tls: { cert: String(extra.tls.pem(extra.tls.serverCert)), key: String(extra.tls.pem(extra.tls.serverKey)), ca: String(extra.tls.pem(extra.tls.caCert)), requireClientCert: true } }
      : {}),
  });
  const bound = await server.listen({ host: '127.0.0.1', port: 0 });
  running.push({ close: () => server.close(200) });
  cache.publish(snapshotOf('edge', { clusters: { a: ['10.0.0.1:9000'] }, listeners: { 'listen-a': [10000, 'a'] } }));
  return { server, cache, address: `127.0.0.1:${bound.port}`, logLines: () => lines, logBytes: () => bytes };
}

function sotw(address: string): RawSotwStream {
  const stream = new RawSotwStream(address);
  running.push(stream);
  return stream;
}

function raw(address: string, path: string, options: ConstructorParameters<typeof RawCall>[2] = {}): RawCall {
  const call = new RawCall(address, path, options);
  running.push(call);
  return call;
}

/** A group with many listeners: each LDS answer is far over HTTP/2's 64 KiB window. */
function bigSnapshot(listeners: number, salt = 0) {
  const spec: Record<string, [number, string]> = {};
  for (let i = 0; i < listeners; i++) spec[`listener-${i}-${'x'.repeat(40)}`] = [20000 + ((i + salt) % 40000), 'a'];
  return snapshotOf('edge', { clusters: { a: ['10.0.0.1:9000'] }, listeners: spec });
}

describe('finding 1: every size a client sends is bounded, and refused naming the limit', () => {
  it('refuses a node message over xds.maxNodeBytes with RESOURCE_EXHAUSTED and keeps none of it', async () => {
    const { address, server } = await start();
    const stream = sotw(address);
    stream.request({ type_url: CLUSTER, node: { id: 'edge', user_agent_name: 'x'.repeat(300_000) } });
    const status = await stream.ended();
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.details).toMatch(/node message is \d+ bytes, over the limit xds\.maxNodeBytes \(262144\)/);
    expect(server.clients()).toEqual([]);
  });

  it('refuses a string in the node over xds.maxNodeStringLength with INVALID_ARGUMENT naming the field', async () => {
    const { address } = await start();
    const stream = sotw(address);
    stream.request({ type_url: CLUSTER, node: { id: 'edge', user_agent_name: 'y'.repeat(9_000) } });
    const status = await stream.ended();
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.details).toContain('node.user_agent_name is 9000 characters, over the limit xds.maxNodeStringLength (8192)');
  });

  it('refuses a resource name over xds.maxResourceNameLength with INVALID_ARGUMENT', async () => {
    const { address } = await start();
    const stream = sotw(address);
    stream.request({ type_url: ENDPOINT, node: { id: 'edge' }, resource_names: ['a', 'n'.repeat(600)] });
    const status = await stream.ended();
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.details).toContain('a resource name of 600 bytes, over the limit xds.maxResourceNameLength (512)');
  });

  it('refuses a delta stream growing past xds.maxSubscribedNames, request by request, and keeps the set it has in place', async () => {
    const { address, server } = await start({ maxSubscribedNames: 250 });
    const stream = new RawDeltaStream(address);
    running.push(stream);
    const batch = (n: number) => Array.from({ length: 100 }, (_, i) => `c-${n}-${i}`);
    stream.request({ type_url: ENDPOINT, node: { id: 'edge' }, resource_names_subscribe: batch(0) });
    await eventually(() => expect(server.clients()[0]?.types[ENDPOINT]?.subscribed).toHaveLength(100));
    stream.request({ type_url: ENDPOINT, resource_names_subscribe: batch(1) });
    await eventually(() => expect(server.clients()[0]?.types[ENDPOINT]?.subscribed).toHaveLength(200));
    stream.request({ type_url: ENDPOINT, resource_names_subscribe: batch(2) });
    const status = await stream.ended();
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.details).toContain('300 eds names subscribed on one stream, over the limit xds.maxSubscribedNames (250)');
  });

  it('checks a request’s wire bytes at each limit: at the limit it passes, one over it is refused naming the limit', () => {
    const limits = { maxNodeBytes: 10, maxNodeStringLength: 5, maxResourceNameLength: 4, maxSubscribedNames: 2 };
    const field = (number: number, bytes: Uint8Array) => protobuf.Writer.create().uint32((number << 3) | 2).bytes(bytes).finish();
    const varint = (number: number, value: number) => protobuf.Writer.create().uint32(number << 3).uint32(value).finish();
    const text = (length: number) => new TextEncoder().encode('x'.repeat(length));
    const join = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
    const sotwCheck = (bytes: Uint8Array) => checkRequestBytes(bytes, SOTW_REQUEST_LAYOUT, limits);
    const deltaCheck = (bytes: Uint8Array) => checkRequestBytes(bytes, DELTA_REQUEST_LAYOUT, limits);
    const nameTooLong = { code: grpc.status.INVALID_ARGUMENT, message: 'a resource name of 5 bytes, over the limit xds.maxResourceNameLength (4)' };
    const tooMany = { code: grpc.status.RESOURCE_EXHAUSTED, message: 'a request names more than 2 resources, over the limit xds.maxSubscribedNames' };

    // The node (SotW field 2, delta field 1).
    expect(sotwCheck(field(2, text(10)))).toBeUndefined();
    expect(sotwCheck(field(2, text(11)))).toEqual({ code: grpc.status.RESOURCE_EXHAUSTED, message: 'the node message is 11 bytes, over the limit xds.maxNodeBytes (10)' });
    expect(deltaCheck(field(1, text(11)))?.message).toBe('the node message is 11 bytes, over the limit xds.maxNodeBytes (10)');
    // Names: SotW resource_names; delta subscribes, unsubscribes and initial_resource_versions keys (whose values are not names).
    const entry = (key: number, value: number) => field(5, join(field(1, text(key)), field(2, text(value))));
    expect(sotwCheck(join(field(3, text(4)), field(3, text(4))))).toBeUndefined();
    expect(deltaCheck(join(field(4, text(4)), entry(4, 100)))).toBeUndefined();
    expect(deltaCheck(field(5, join(field(2, text(100)), field(1, text(4)))))).toBeUndefined(); // the value first
    expect(sotwCheck(field(3, text(5)))).toEqual(nameTooLong);
    expect(deltaCheck(field(3, text(5)))).toEqual(nameTooLong);
    expect(deltaCheck(field(4, text(5)))).toEqual(nameTooLong);
    expect(deltaCheck(entry(5, 1))).toEqual(nameTooLong);
    expect(sotwCheck(join(field(3, text(1)), field(3, text(1)), field(3, text(1))))).toEqual(tooMany);
    expect(deltaCheck(join(field(3, text(1)), field(4, text(1)), entry(1, 1)))).toEqual(tooMany);
    // Version, type URL and nonce are held to the name length too.
    expect(sotwCheck(join(field(1, text(4)), field(4, text(4)), field(5, text(4))))).toBeUndefined();
    expect(sotwCheck(field(5, text(5)))).toEqual({ code: grpc.status.INVALID_ARGUMENT, message: 'response_nonce is 5 bytes, over the limit xds.maxResourceNameLength (4)' });
    expect(sotwCheck(field(1, text(5)))?.message).toBe('version_info is 5 bytes, over the limit xds.maxResourceNameLength (4)');
    expect(deltaCheck(field(2, text(5)))?.message).toBe('type_url is 5 bytes, over the limit xds.maxResourceNameLength (4)');
    // Other wire types are stepped over, not read as lengths; what is not protobuf is left to the decoder.
    expect(sotwCheck(join(varint(9, 300), field(3, text(5))))).toEqual(nameTooLong);
    expect(sotwCheck(Uint8Array.from([0x1a, 0x7f]))).toBeUndefined();
  });

  it('names the first string of a decoded node over xds.maxNodeStringLength by its path, keys included', () => {
    // 8: the longest key of these nodes, "metadata", is at the limit.
    const limits = { maxNodeBytes: 1_000, maxNodeStringLength: 8, maxResourceNameLength: 4, maxSubscribedNames: 2 };
    const over = (path: string) => ({ code: grpc.status.INVALID_ARGUMENT, message: `${path} is 9 characters, over the limit xds.maxNodeStringLength (8)` });
    expect(checkNodeStrings({ id: 'xxxxxxxx', cluster: 'yyyyyyyy', metadata: { fields: { k: ['abcdefgh'] } } }, limits)).toBeUndefined();
    expect(checkNodeStrings({ id: 'xxxxxxxxx' }, limits)).toEqual(over('node.id'));
    expect(checkNodeStrings({ id: 'x', metadata: { fields: { k: ['ok', 'abcdefghi'] } } }, limits)).toEqual(over('node.metadata.fields.k[1]'));
    expect(checkNodeStrings({ id: 'x', metadata: { fields: { kkkkkkkkk: 'v' } } }, limits)).toEqual(over('node.metadata.fields key'));
  });

  it('applies delta subscribes in place: a request costs what it carries, not the whole subscription', async () => {
    const { address, server } = await start();
    const stream = new RawDeltaStream(address);
    running.push(stream);
    stream.request({ type_url: ENDPOINT, node: { id: 'edge' }, resource_names_subscribe: Array.from({ length: 5_000 }, (_, i) => `c-${i}`) });
    await eventually(() => expect(server.clients()[0]?.types[ENDPOINT]?.subscribed).toHaveLength(5_000));
    const entry = [...(server as any).streams.values()][0].stream;
    const before = entry.types.get(ENDPOINT).subscription.names;
    stream.request({ type_url: ENDPOINT, resource_names_subscribe: ['one-more'] });
    await eventually(() => expect(server.clients()[0]?.types[ENDPOINT]?.subscribed).toHaveLength(5_001));
    expect(entry.types.get(ENDPOINT).subscription.names).toBe(before);
  });

  it('refuses a request over xds.maxRequestBytes (the gRPC max receive message length) with RESOURCE_EXHAUSTED', async () => {
    const { address } = await start({ maxRequestBytes: 64 * 1024 });
    const stream = sotw(address);
    stream.request({ type_url: ENDPOINT, node: { id: 'edge' }, resource_names: Array.from({ length: 2_000 }, (_, i) => `name-${i}-${'z'.repeat(40)}`) });
    const status = await stream.ended();
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.details).toMatch(/larger than max/);
  });

  it('counts streams per IP address, whatever the port and however grpc-js writes an IPv6 peer', () => {
    expect(peerAddress('10.0.0.7:50001')).toBe('10.0.0.7');
    expect(peerAddress('10.0.0.7:50002')).toBe('10.0.0.7');
    expect(peerAddress('[2001:db8::7]:50001')).toBe('2001:db8::7');
    expect(peerAddress('2001:db8::7:50001')).toBe('2001:db8::7');
    expect(peerAddress('::ffff:10.0.0.7:50001')).toBe('::ffff:10.0.0.7');
    expect(peerAddress('unknown')).toBe('unknown');
  });

  it('refuses streams past xds.maxStreamsPerPeer and xds.maxStreams with RESOURCE_EXHAUSTED, and lets one in once another closes', async () => {
    const { address, server } = await start({ maxStreamsPerPeer: 3, maxStreams: 5 });
    const open = [sotw(address), sotw(address), sotw(address)];
    for (const s of open) s.request({ type_url: CLUSTER, node: { id: 'edge' } });
    await eventually(() => expect(server.clients()).toHaveLength(3));
    const fourth = sotw(address);
    fourth.request({ type_url: CLUSTER, node: { id: 'edge' } });
    const status = await fourth.ended();
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.details).toContain('3 streams open from 127.0.0.1, the limit xds.maxStreamsPerPeer (3)');
    open[0]!.close();
    await eventually(() => expect(server.clients()).toHaveLength(2));
    const again = sotw(address);
    again.request({ type_url: CLUSTER, node: { id: 'edge' } });
    await again.next();

    const { address: other } = await start({ maxStreamsPerPeer: 10, maxStreams: 2 });
    const [x, y, z] = [sotw(other), sotw(other), sotw(other)];
    x.request({ type_url: CLUSTER, node: { id: 'edge' } });
    y.request({ type_url: CLUSTER, node: { id: 'edge' } });
    await x.next();
    await y.next();
    z.request({ type_url: CLUSTER, node: { id: 'edge' } });
    const total = await z.ended();
    expect(total.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(total.details).toContain('the limit xds.maxStreams (2)');
  });
});

describe('finding 1: a connection whose calls keep being refused is closed, so what it carries costs nothing', () => {
  /** One admitted stream, then `refused` more on the same connection, each past xds.maxStreamsPerPeer (1). */
  async function refusedOnOneConnection(address: string, refused: number) {
    const admitted = raw(address, SOTW_PATH, { read: true });
    admitted.send({ type_url: CLUSTER, node: { id: 'edge' } });
    await eventually(() => expect(admitted.messages).toBe(1));
    const others = Array.from({ length: refused }, () => raw(address, SOTW_PATH, { read: true, session: admitted.session }));
    for (const call of others) call.send({ type_url: CLUSTER, node: { id: 'edge' } });
    const statuses = await Promise.all(others.map((call) => call.closed));
    return { admitted, exhausted: statuses.filter((s) => s.grpcStatus === grpc.status.RESOURCE_EXHAUSTED).length };
  }

  it('keeps a connection with xds.maxRefusedStreamsPerConnection refusals, and closes one past it: its other streams end, its later calls are never handled', async () => {
    const kept = await start({ maxStreamsPerPeer: 1, maxRefusedStreamsPerConnection: 3 });
    const atLimit = await refusedOnOneConnection(kept.address, 3);
    expect(atLimit.exhausted).toBe(3);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(kept.server.clients()).toHaveLength(1); // the admitted stream goes on

    const closed = await start({ maxStreamsPerPeer: 1, maxRefusedStreamsPerConnection: 3 });
    const past = await refusedOnOneConnection(closed.address, 20);
    // The fourth refusal is sent, then the connection closes: the 16 calls after it get no status.
    expect(past.exhausted).toBe(4);
    expect((await past.admitted.closed).grpcStatus).toBeUndefined();
    await eventually(() => expect(closed.server.clients()).toHaveLength(0));
    expect(closed.logLines().filter((l) => l.msg.startsWith('xds connection closed'))).toMatchObject([{ level: 40, peer: expect.stringContaining('127.0.0.1'), refusals: 4 }]);

    // A new connection from the same peer is served.
    const again = raw(closed.address, SOTW_PATH, { read: true });
    again.send({ type_url: CLUSTER, node: { id: 'edge' } });
    await eventually(() => expect(again.messages).toBe(1));
  });
});

describe('finding 1: calls past xds.maxStreamsPerConnection on one connection are refused by HTTP/2 before shardvoy sets them up', () => {
  it('serves 4 of 10 calls sent at once on one connection and resets the other 6 with REFUSED_STREAM, which shardvoy never sees', async () => {
    const started = await start({ maxStreamsPerConnection: 4 });
    const first = raw(started.address, SOTW_PATH, { read: true });
    const calls = [first, ...Array.from({ length: 9 }, () => raw(started.address, SOTW_PATH, { read: true, session: first.session }))];
    for (const call of calls) call.send({ type_url: CLUSTER, node: { id: 'edge' } });
    const ends = await Promise.all(calls.map((call) => Promise.race([call.closed, new Promise<undefined>((resolve) => setTimeout(resolve, 1_000))])));
    expect(ends.filter((end) => end === undefined)).toHaveLength(4);
    expect(ends.filter((end) => end?.rstCode === 7)).toHaveLength(6); // NGHTTP2_REFUSED_STREAM
    expect(calls.filter((call) => call.messages === 1)).toHaveLength(4);
    expect(started.server.clients()).toHaveLength(4);
    expect(started.logLines().filter((l) => l.msg === 'xds stream refused')).toEqual([]);
  });
});

describe('finding 1: the refusal guard counts unary refusals too', () => {
  it('closes the connection of a client whose CSDS fetches are refused more than xds.maxRefusedStreamsPerConnection times at once', async () => {
    const { address, logLines } = await start({ maxRefusedStreamsPerConnection: 3 }, { readToken: 'r3ad' });
    const client = new CsdsClient(address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
    running.push(client);
    const fetchOnce = () => new Promise<grpc.ServiceError | null>((resolve) => client.FetchClientStatus!({ node_matchers: [] }, new grpc.Metadata(), (error: grpc.ServiceError | null) => resolve(error)));
    for (let i = 0; i < 3; i++) expect((await fetchOnce())?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(logLines().filter((l) => l.msg.startsWith('xds connection closed'))).toEqual([]);
    await fetchOnce();
    await eventually(() => expect(logLines().filter((l) => l.msg.startsWith('xds connection closed'))).toMatchObject([{ refusals: 4 }]));
  });
});

describe('finding 3: a client that does not read gets no queue, and is closed after xds.writeTimeoutSeconds', () => {
  it('holds at most one response per stream for a non-reader that re-subscribes 100 times, then resets it', async () => {
    const { address, server, cache } = await start({ writeTimeoutSeconds: 1.5 });
    cache.publish(bigSnapshot(1_500));
    const call = raw(address, SOTW_PATH);
    call.send({ type_url: LISTENER, node: { id: 'edge' } });
    for (let i = 0; i < 100; i++) call.send({ type_url: LISTENER }); // empty nonce: asks again each time
    await new Promise((resolve) => setTimeout(resolve, 300));
    cache.publish(bigSnapshot(1_500, 1)); // a newer state while the first answer is unread
    await new Promise((resolve) => setTimeout(resolve, 200));
    call.read();
    await new Promise((resolve) => setTimeout(resolve, 300));
    // What was owed goes out once it reads: the unread answer and the latest state, not 100 answers.
    expect(call.messages).toBeGreaterThanOrEqual(1);
    expect(call.messages).toBeLessThanOrEqual(3);

    const stuck = raw(address, SOTW_PATH);
    stuck.send({ type_url: LISTENER, node: { id: 'edge' } });
    await eventually(() => expect(server.clients()).toHaveLength(2));
    const closed = await stuck.closed;
    expect(closed.rstCode).toBe(8); // CANCEL: a status cannot pass the unread data
    await eventually(() => expect(server.clients()).toHaveLength(1));
  });
});

describe('finding 2: CSDS asks for the read token, has a request budget, and backpressure', () => {
  it('refuses FetchClientStatus and StreamClientStatus without the read token, answers with it', async () => {
    const { address } = await start({}, { readToken: 'r3ad' });
    const client = new CsdsClient(address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
    running.push(client);
    const fetchWith = (metadata: grpc.Metadata) =>
      new Promise<{ error: grpc.ServiceError | null; response: any }>((resolve) =>
        client.FetchClientStatus!({ node_matchers: [] }, metadata, (error: grpc.ServiceError | null, response: any) => resolve({ error, response })),
      );
    const anonymous = await fetchWith(new grpc.Metadata());
    expect(anonymous.error?.code).toBe(grpc.status.UNAUTHENTICATED);
    const token = new grpc.Metadata();
    token.set('authorization', 'Bearer r3ad');
    expect((await fetchWith(token)).error).toBeNull();

    const stream = raw(address, CSDS_PATH, { read: true });
    stream.send({ node_matchers: [] });
    expect((await stream.closed).grpcStatus).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('closes a CSDS stream over the request budget with RESOURCE_EXHAUSTED', async () => {
    const { address } = await start({ streamRequestsPerSecond: 5, streamRequestBurst: 10 });
    const stream = raw(address, CSDS_PATH, { read: true });
    for (let i = 0; i < 30; i++) stream.send({ node_matchers: [] });
    const status = await stream.closed;
    expect(status.grpcStatus).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.grpcMessage).toMatch(/more than 5 requests per second/);
  });

  it('answers a non-reading CSDS stream once per write: 150 requests give at most 2 answers once it reads', async () => {
    const { address, cache } = await start({ writeTimeoutSeconds: 5 });
    cache.publish(bigSnapshot(1_500));
    const envoys = [sotw(address), sotw(address)];
    for (const e of envoys) e.request({ type_url: LISTENER, node: { id: 'edge' } });
    for (const e of envoys) await e.next();
    const stream = raw(address, CSDS_PATH);
    for (let i = 0; i < 150; i++) stream.send({ node_matchers: [] });
    await new Promise((resolve) => setTimeout(resolve, 500));
    stream.read();
    // The first answer is polled for (each is some MB: on a loaded machine it takes a while), then
    // half a second more lets any other one arrive.
    await eventually(() => expect(stream.messages).toBeGreaterThanOrEqual(1), 10_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(stream.messages).toBeLessThanOrEqual(2);
  });
});

describe('finding 4: refusals disclose nothing to a stranger, always reach the client, and log a bounded amount', () => {
  it('does not list the configured groups to an unauthenticated peer', async () => {
    const { address } = await start();
    const stream = sotw(address);
    stream.request({ type_url: CLUSTER, node: { id: 'nobody', cluster: 'none' } });
    const status = await stream.ended();
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.details).toBe('node.id "nobody" and node.cluster "none" name no configured group');
    expect(status.details).not.toContain('secret-group');
  });

  it('lists them to a peer whose client certificate the server verified', async () => {
    const pki = makeTestPki();
    const { address } = await start({}, { tls: pki });
    const port = address.split(':')[1];
    const credentials = grpc.credentials.createSsl(pki.pem(pki.caCert), pki.pem(pki.clientKey), pki.pem(pki.clientCert));
    const { aggregatedService } = await import('../../src/xds/service-definitions.js');
    const Ads = grpc.makeClientConstructor(aggregatedService(), 'Ads');
    const client = new Ads(`localhost:${port}`, credentials) as grpc.Client & Record<string, Function>;
    running.push(client);
    const call = client.StreamAggregatedResources!() as grpc.ClientDuplexStream<object, object>;
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      call.on('status', resolve);
      call.on('error', () => undefined);
      call.write({ type_url: CLUSTER, node: { id: 'nobody', cluster: 'none' }, resource_names: [], version_info: '', response_nonce: '' });
    });
    expect(status.details).toContain('configured groups: edge, secret-group');
  });

  it('refuses a 1 MB node id with a status that reaches the client, short, and logs one short line for 20 of them', async () => {
    // The streams share one connection: the refusal guard (tested above) is lifted so every one is refused.
    const { address, logLines, logBytes } = await start({ maxNodeBytes: 4 * 1024 * 1024, maxNodeStringLength: 2 * 1024 * 1024, maxRefusedStreamsPerConnection: 1_000 });
    const before = logBytes();
    const streams = Array.from({ length: 20 }, () => sotw(address));
    for (const s of streams) s.request({ type_url: CLUSTER, node: { id: 'i'.repeat(1_000_000) } });
    const statuses = await Promise.all(streams.map((s) => s.ended(10_000)));
    for (const status of statuses) {
      expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(status.details.length).toBeLessThan(1_024);
      expect(status.details).toContain('(1000000 characters)');
    }
    const refused = logLines().filter((l) => l.msg === 'xds stream refused');
    expect(refused.length).toBe(1);
    expect(logBytes() - before).toBeLessThan(20 * 1_024);
  });

  it('logs one refusal line for 50 streams with 50 different unknown ids: the key is the kind of refusal, not what the client sent', async () => {
    const { address, logLines } = await start({ maxRefusedStreamsPerConnection: 1_000 }); // one connection: see above
    const streams = Array.from({ length: 50 }, () => sotw(address));
    streams.forEach((s, i) => s.request({ type_url: CLUSTER, node: { id: `stranger-${i}-${'z'.repeat(200)}` } }));
    for (const s of streams) expect((await s.ended()).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(logLines().filter((l) => l.msg === 'xds stream refused')).toHaveLength(1);
  });

  it('lists at most 1,024 characters of group names to an authenticated peer, then how many groups there are', () => {
    const node = { id: 'nobody', cluster: 'none' };
    const who = 'node.id "nobody" and node.cluster "none" name no configured group';
    expect(unknownGroupMessage(node, ['edge', 'secret-group'])).toBe(who);
    expect(unknownGroupMessage(null, ['edge'], true)).toBe('a request without node name no configured group; configured groups: edge');
    // 128 names (one of 8 characters, 127 of 6) and 127 separators of 2: 1,024 characters, listed
    // whole; with one more name the list is cut at 1,024 and says how many groups there are.
    const names = ['g0000000', ...Array.from({ length: 128 }, (_, i) => `g${String(i + 1).padStart(5, '0')}`)];
    const whole = names.slice(0, 128).join(', ');
    expect(whole).toHaveLength(1_024);
    expect(unknownGroupMessage(node, names.slice(0, 128), true)).toBe(`${who}; configured groups: ${whole}`);
    expect(unknownGroupMessage(node, names, true)).toBe(`${who}; configured groups: ${whole}… (129 groups)`);
  });

  it('truncates what a client chose, saying how long it was; writes a repeated warning once per interval with the count', () => {
    expect(truncateForLog('short')).toBe('short');
    expect(truncateForLog('x'.repeat(1_000))).toBe(`${'x'.repeat(128)}… (1000 characters)`);
    let now = 0;
    const lines: Record<string, any>[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _e, done) => (lines.push(JSON.parse(String(chunk))), done()) }));
    const limiter = new RepeatLimiter(10_000, () => now);
    for (let i = 0; i < 1_000; i++) limiter.log(logger, 'warn', 'k', { i }, 'refused');
    limiter.log(logger, 'warn', 'other', {}, 'other');
    now = 10_001;
    limiter.log(logger, 'warn', 'k', { i: 'next' }, 'refused');
    expect(lines.map((l) => [l.msg, l.suppressed])).toEqual([
      ['refused', undefined],
      ['other', undefined],
      ['refused', 999],
    ]);
  });
});
