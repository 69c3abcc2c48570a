/**
 * Contract 12, rejected configuration heals: a version Envoy NACKs for a cause on its own host (a
 * port taken there) is sent again with capped exponential backoff, 1 s, 2 s, 4 s ... at most
 * every xds.nackRetryMaxSeconds, until it is ACKed; any other NACK is never resent; a newer
 * version goes out as usual. The streams run on a fake clock whose timers the test moves.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLUSTER, ENDPOINT, LISTENER } from '../../src/envoy-api/type-urls.js';
import type { TypeStatus } from '../../src/xds/stream-base.js';
import { eventually } from '../support/harness.js';
import { FakeClock } from '../support/fake-clock.js';
import { RawDeltaStream, RawSotwStream, type SotwResponse } from '../support/raw-xds.js';
import { snapshotOf, type TopologySpec } from '../support/snapshots.js';
import { startXdsServer } from '../support/xds-server.js';

const NODE = { id: 'edge', cluster: 'edge' };
const V1: TopologySpec = { clusters: { a: ['10.0.0.1:9000'] }, listeners: { 'listen-a': [10000, 'a'] } };
const onPort = (port: number): TopologySpec => ({ ...V1, listeners: { 'listen-a': [port, 'a'] } });
const PORT_TAKEN = (port: number) => `Error adding/updating listener(s) listen-a: cannot bind '0.0.0.0:${port}': Address already in use`;
const CAP_SECONDS = 8;

describe('retrying a version NACKed for a cause on the client host', () => {
  let clock: FakeClock;
  let xds: Awaited<ReturnType<typeof startXdsServer>>;
  const streams: Array<RawSotwStream | RawDeltaStream> = [];

  beforeEach(async () => {
    clock = new FakeClock();
    xds = await startXdsServer(['edge'], { nackRetryMaxSeconds: CAP_SECONDS }, { clock, timers: clock });
    xds.cache.publish(snapshotOf('edge', V1));
  });
  afterEach(async () => {
    for (const stream of streams.splice(0)) {
      expect(stream.violations).toEqual([]);
      stream.close();
    }
    await xds.server.close(200);
  });

  const lds = (): TypeStatus & { nackRetries?: number; nextRetryAt?: string } => xds.server.clients()[0]!.types[LISTENER]!;
  const inMs = (ms: number) => new Date(clock.now() + ms).toISOString();

  async function synced() {
    const stream = new RawSotwStream(xds.address);
    streams.push(stream);
    stream.request({ type_url: CLUSTER, node: NODE });
    stream.ack(await stream.next());
    stream.request({ type_url: ENDPOINT, resource_names: ['a'] });
    stream.ack(await stream.next(), ['a']);
    stream.request({ type_url: LISTENER });
    const listeners = await stream.next();
    stream.ack(listeners);
    await stream.expectNothing(50);
    return { stream, listeners };
  }

  /** NACKs `response` as Envoy does when a port is taken on its host, and waits until the server has it. */
  async function nackPortTaken(stream: RawSotwStream, response: SotwResponse, held: string, port: number) {
    stream.nack(response, held, PORT_TAKEN(port));
    await eventually(() => expect(lds().lastNack?.message).toBe(PORT_TAKEN(port)));
    await eventually(() => expect(lds().nextRetryAt).toBeDefined());
  }

  it('resends the same version after 1 s, 2 s, 4 s, then at most every nackRetryMaxSeconds, and stops once it is ACKed', async () => {
    const { stream, listeners } = await synced();
    xds.cache.publish(snapshotOf('edge', onPort(10009)));
    const rejected = await stream.next();
    await nackPortTaken(stream, rejected, listeners.version_info, 10009);
    expect(lds()).toMatchObject({ configStatus: 'ERROR', nackRetries: 0, nextRetryAt: inMs(1_000) });

    let last = rejected;
    for (const [attempt, delayMs] of [[1, 1_000], [2, 2_000], [3, 4_000], [4, 8_000], [5, 8_000]] as const) {
      clock.advance(delayMs - 1);
      await stream.expectNothing(60); // never sooner than the backoff
      clock.advance(1);
      const retry = await stream.next();
      expect([retry.type_url, retry.version_info, retry.decoded[0]!.address.socket_address.port_value]).toEqual([LISTENER, rejected.version_info, 10009]);
      expect(retry.nonce).not.toBe(last.nonce);
      expect(lds().nackRetries).toBe(attempt);
      last = retry;
      if (attempt < 5) await nackPortTaken(stream, retry, listeners.version_info, 10009);
    }

    stream.ack(last); // the port was freed on the host
    await eventually(() => expect(lds()).toMatchObject({ configStatus: 'SYNCED', lastAckedVersion: rejected.version_info, nackRetries: 0 }));
    expect(lds().nextRetryAt).toBeUndefined();
    clock.advance(3_600_000);
    await stream.expectNothing(100);
  });

  it('never resends a version NACKed for anything else', async () => {
    const { stream, listeners } = await synced();
    xds.cache.publish(snapshotOf('edge', onPort(10009)));
    const rejected = await stream.next();
    stream.nack(rejected, listeners.version_info, 'Proto constraint validation failed (ListenerValidationError.Name: value length must be at least 1 runes)');
    await eventually(() => expect(lds().configStatus).toBe('ERROR'));
    expect(lds().nextRetryAt).toBeUndefined();
    clock.advance(3_600_000);
    await stream.expectNothing(150);
    expect(clock.pendingTimers).toBe(0);
  });

  it('sends a newer version as usual in between, keeps backing off while it is rejected too, and starts again at 1 s after an ACK', async () => {
    const { stream, listeners } = await synced();
    xds.cache.publish(snapshotOf('edge', onPort(10009)));
    const first = await stream.next();
    await nackPortTaken(stream, first, listeners.version_info, 10009);
    clock.advance(1_000);
    const retry = await stream.next();
    await nackPortTaken(stream, retry, listeners.version_info, 10009);
    expect(lds().nextRetryAt).toBe(inMs(2_000));

    // A registry or configuration change: the newer version goes out at once, the pending retry is moot.
    xds.cache.publish(snapshotOf('edge', onPort(10010)));
    const newer = await stream.next();
    expect([newer.type_url, newer.decoded[0]!.address.socket_address.port_value]).toEqual([LISTENER, 10010]);
    expect(lds().nextRetryAt).toBeUndefined();
    clock.advance(60_000);
    await stream.expectNothing(100); // nothing is resent while the newer version awaits its answer

    await nackPortTaken(stream, newer, listeners.version_info, 10010);
    expect(lds().nextRetryAt).toBe(inMs(2_000)); // still not accepted: the backoff goes on
    clock.advance(2_000);
    const newerRetry = await stream.next();
    expect(newerRetry.version_info).toBe(newer.version_info);
    stream.ack(newerRetry);
    await eventually(() => expect(lds()).toMatchObject({ configStatus: 'SYNCED', nackRetries: 0 }));

    xds.cache.publish(snapshotOf('edge', onPort(10011)));
    const later = await stream.next();
    await nackPortTaken(stream, later, newer.version_info, 10011);
    expect(lds().nextRetryAt).toBe(inMs(1_000)); // accepted in between: the backoff starts over
  });

  it('retries over delta too, resending the rejected resources', async () => {
    const stream = new RawDeltaStream(xds.address);
    streams.push(stream);
    stream.request({ type_url: CLUSTER, node: NODE });
    stream.ack(await stream.next());
    stream.request({ type_url: ENDPOINT, resource_names_subscribe: ['a'] });
    stream.ack(await stream.next());
    stream.request({ type_url: LISTENER });
    stream.ack(await stream.next());
    xds.cache.publish(snapshotOf('edge', onPort(10009)));
    const rejected = await stream.next();
    expect(rejected.names).toEqual(['listen-a']);
    stream.request({ type_url: LISTENER, response_nonce: rejected.nonce, error_detail: { code: 13, message: PORT_TAKEN(10009) } });
    await eventually(() => expect(lds().nextRetryAt).toBe(inMs(1_000)));
    clock.advance(999);
    await stream.expectNothing(60);
    clock.advance(1);
    const retry = await stream.next();
    expect([retry.type_url, retry.names, retry.versions, retry.removed]).toEqual([LISTENER, ['listen-a'], rejected.versions, []]);
    stream.ack(retry);
    await eventually(() => expect(lds()).toMatchObject({ configStatus: 'SYNCED', nackRetries: 0 }));
  });

  it('clears its retry timer when the stream closes', async () => {
    const { stream, listeners } = await synced();
    xds.cache.publish(snapshotOf('edge', onPort(10009)));
    await nackPortTaken(stream, await stream.next(), listeners.version_info, 10009);
    expect(clock.pendingTimers).toBe(1);
    stream.close();
    await eventually(() => expect(xds.server.clients()).toEqual([]));
    expect(clock.pendingTimers).toBe(0);
  });
});
