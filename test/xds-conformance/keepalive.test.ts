/**
 * gRPC keepalive on the xDS port (README, "Streams": ping every 30 s, 5 s timeout): a client that
 * stops answering pings (a dead peer, a cut network) is dropped and its stream forgotten; one that
 * answers stays. grpc-js runs keepalive on setTimeout, so the test drives those timers with a fake
 * clock (the sockets stay real: setImmediate, I/O and Date are left alone) and checks the
 * boundaries to the millisecond: not dropped at 30 s + 5 s - 1 ms, dropped at 30 s + 5 s.
 *
 * The client reaches the server through a TCP relay that can go deaf: it stops passing the
 * client's bytes (its ping answers among them) to the server, as a cut network would.
 */
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CLUSTER } from '../../src/envoy-api/type-urls.js';
import { RawSotwStream } from '../support/raw-xds.js';
import { snapshotOf } from '../support/snapshots.js';
import { startXdsServer } from '../support/xds-server.js';

const KEEPALIVE_TIME_MS = 30_000;
const KEEPALIVE_TIMEOUT_MS = 5_000;
const NODE = { id: 'edge', cluster: 'edge' };
const V1 = { clusters: { a: ['10.0.0.1:9000'] }, listeners: { 'listen-a': [10000, 'a'] as const } };

/** A relay to `target` whose client-to-server direction can be cut. */
async function relay(target: number) {
  const state = { deaf: false, upstreamClosed: false, connections: 0 };
  const server = net.createServer((client) => {
    state.connections++;
    const upstream = net.connect(target, '127.0.0.1');
    client.on('data', (chunk) => {
      if (!state.deaf) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => client.write(chunk));
    upstream.on('close', () => {
      state.upstreamClosed = true;
      client.destroy();
    });
    client.on('close', () => upstream.destroy());
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return { state, address: `127.0.0.1:${port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** Lets real I/O run (timers are fake) until `done`, for at most `ms` of real time. */
async function settle(done: () => boolean, ms = 1_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
  return done();
}

/** Lets real I/O run for `ms` of real time. */
const spin = (ms: number) => settle(() => false, ms);

describe('xDS keepalive', () => {
  const cleanups: Array<() => unknown> = [];
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
  });
  afterEach(async () => {
    vi.useRealTimers();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function connected() {
    const xds = await startXdsServer(['edge']);
    cleanups.push(() => xds.server.close(200));
    xds.cache.publish(snapshotOf('edge', V1));
    const port = Number(xds.address.split(':')[1]);
    const link = await relay(port);
    cleanups.push(() => link.close());
    const stream = new RawSotwStream(link.address);
    cleanups.push(() => stream.close());
    stream.request({ type_url: CLUSTER, node: NODE });
    expect(await settle(() => stream.received.length > 0, 5_000), 'the first response').toBe(true);
    stream.ack(stream.received[0]!);
    expect(await settle(() => xds.server.clients()[0]?.types[CLUSTER]?.configStatus === 'SYNCED', 5_000), 'the ACK').toBe(true);
    return { xds, link, stream };
  }

  it('drops a client that stops answering pings 5 s after the ping it sent 30 s into the connection, and forgets its stream', async () => {
    const { xds, link, stream } = await connected();
    link.state.deaf = true;

    vi.advanceTimersByTime(KEEPALIVE_TIME_MS); // the ping goes out
    await spin(100);
    vi.advanceTimersByTime(KEEPALIVE_TIMEOUT_MS - 1);
    await spin(100);
    expect(link.state.upstreamClosed, 'dropped before the ping timeout').toBe(false);
    expect(xds.server.clients()).toHaveLength(1);

    vi.advanceTimersByTime(1);
    expect(await settle(() => link.state.upstreamClosed), 'the server closed the connection').toBe(true);
    expect(await settle(() => xds.server.clients().length === 0), 'the stream is forgotten').toBe(true);
    expect(await settle(() => stream.status !== undefined), "the client's call ends").toBe(true);
  });

  it('sends no ping before 30 s: a client deaf for 30 s - 1 ms, then heard again, stays', async () => {
    const { xds, link } = await connected();
    link.state.deaf = true;
    vi.advanceTimersByTime(KEEPALIVE_TIME_MS - 1);
    await spin(100);
    link.state.deaf = false;
    vi.advanceTimersByTime(1); // the ping, answered now
    await spin(200);
    vi.advanceTimersByTime(KEEPALIVE_TIMEOUT_MS + 1);
    await spin(100);
    expect(link.state.upstreamClosed).toBe(false);
    expect(xds.server.clients()).toHaveLength(1);
  });

  it('keeps a client that answers its pings, ping after ping', async () => {
    const { xds, link, stream } = await connected();
    // Each ping goes out 30 s after the last answer; each answer clears its 5 s timeout, which
    // the next 30 s would otherwise cross.
    for (let round = 0; round < 4; round++) {
      vi.advanceTimersByTime(KEEPALIVE_TIME_MS);
      await spin(150); // the ping and its answer cross the relay
    }
    expect(link.state.upstreamClosed).toBe(false);
    expect(link.state.connections).toBe(1);
    expect(xds.server.clients()).toHaveLength(1);
    expect(stream.status).toBeUndefined();
  });
});
