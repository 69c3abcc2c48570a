/**
 * State-of-the-world ADS, rule by rule, asserting the exact sequence of responses a client sees.
 * Snapshots are published straight into the server's cache, so CDS and LDS can change.
 */
import { describe, expect, it } from 'vitest';
import { CLUSTER, ENDPOINT, LISTENER } from '../../src/envoy-api/type-urls.js';
import { nextSubscription, type Subscription } from '../../src/xds/subscription.js';
import { TokenBucket } from '../../src/xds/token-bucket.js';
import { FakeClock } from '../support/fake-clock.js';
import { eventually } from '../support/harness.js';
import { RawSotwStream, type SotwResponse } from '../support/raw-xds.js';
import { snapshotOf } from '../support/snapshots.js';
import { resourceVersionOf, setVersionOf } from '../support/version-oracle.js';
import { startXdsServer, xdsServerPerTest } from '../support/xds-server.js';

const NODE = { id: 'edge', cluster: 'edge' };
const V1 = { clusters: { a: ['10.0.0.1:9000'] }, listeners: { 'listen-a': [10000, 'a'] as const } };

describe('SotW ADS conformance', () => {
  const fixture = xdsServerPerTest((address) => new RawSotwStream(address), V1);
  const open = () => fixture.open();

  /** Connects as Envoy does and ACKs everything: returns the stream and its last response per type. */
  async function synced(names: string[] = ['a']) {
    const stream = open();
    stream.request({ type_url: CLUSTER, node: NODE });
    const cds = await stream.next();
    stream.request({ type_url: ENDPOINT, resource_names: names });
    stream.ack(cds);
    const eds = await stream.next();
    stream.ack(eds, names);
    stream.request({ type_url: LISTENER });
    const lds = await stream.next();
    stream.ack(lds);
    await stream.expectNothing(100);
    return { stream, cds, eds, lds };
  }

  it('answers an Envoy-like start in order: CDS, then EDS for the clusters it named, then LDS', async () => {
    const { cds, eds, lds } = await synced();
    expect([cds.type_url, cds.names]).toEqual([CLUSTER, ['a']]);
    expect([eds.type_url, eds.names]).toEqual([ENDPOINT, ['a']]);
    expect([lds.type_url, lds.names]).toEqual([LISTENER, ['listen-a']]);
    expect(new Set([cds.nonce, eds.nonce, lds.nonce]).size).toBe(3);
    expect(cds.version_info).toBe(fixture.xds.cache.get('edge')!.sets[CLUSTER].version);
    // A response's version folds the names and versions (hashes of the bytes) it carries: computed here, not read back.
    for (const response of [cds, eds, lds]) {
      expect(response.version_info).toBe(setVersionOf(response.names.map((name, i) => [name, resourceVersionOf(response.encoded[i]!)] as const)));
    }
  });

  it('adds before it removes: new clusters, their endpoints, then listeners, and only then drops the old cluster', async () => {
    const { stream } = await synced();
    fixture.xds.cache.publish(snapshotOf('edge', { clusters: { b: ['10.0.0.2:9000'] }, listeners: { 'listen-b': [10001, 'b'] } }));
    const cds = await stream.next();
    expect([cds.type_url, cds.names.sort()]).toEqual([CLUSTER, ['a', 'b']]); // a kept: listen-a still routes to it
    const eds = await stream.next();
    expect([eds.type_url, eds.names]).toEqual([ENDPOINT, ['a']]); // fresh EDS after CDS: a's endpoints kept while a is
    await stream.expectNothing(150); // listeners wait: b is neither ACKed nor given endpoints

    stream.ack(cds);
    stream.ack(eds, ['a', 'b']); // as Envoy does once it holds b
    const edsB = await stream.next();
    expect([edsB.type_url, edsB.names.sort()]).toEqual([ENDPOINT, ['a', 'b']]);
    const lds = await stream.next();
    expect([lds.type_url, lds.names]).toEqual([LISTENER, ['listen-b']]);
    await stream.expectNothing(150);

    stream.ack(lds);
    const final = await stream.next();
    expect([final.type_url, final.names]).toEqual([CLUSTER, ['b']]);
    expect(final.version_info).toBe(fixture.xds.cache.get('edge')!.sets[CLUSTER].version);
    stream.ack(final);
    stream.ack(edsB, ['b']);
    const edsFinal = await stream.next();
    expect([edsFinal.type_url, edsFinal.names]).toEqual([ENDPOINT, ['b']]);
  });

  it('holds listeners back until the clusters are ACKed, however many cluster updates come first', async () => {
    const { stream } = await synced();
    // Change a cluster (timeout only) and a listener at once, then again before the client ACKs.
    fixture.xds.cache.publish(snapshotOf('edge', { ...V1, timeouts: { a: 1_000 }, listeners: { 'listen-a': [10005, 'a'] } }));
    const cds1 = await stream.next();
    const eds1 = await stream.next();
    expect([cds1.type_url, cds1.decoded[0]!.connect_timeout, eds1.type_url]).toEqual([CLUSTER, '1s', ENDPOINT]);
    await stream.expectNothing(200); // the listener waits for the clusters' ACK
    fixture.xds.cache.publish(snapshotOf('edge', { ...V1, timeouts: { a: 2_000 }, listeners: { 'listen-a': [10006, 'a'] } }));
    await stream.expectNothing(200); // nothing is pending: CDS and EDS await their ACKs
    stream.ack(eds1, ['a']);
    await stream.expectNothing(200); // LDS may not overtake the newer CDS
    stream.ack(cds1);
    const cds2 = await stream.next();
    expect([cds2.type_url, cds2.decoded[0]!.connect_timeout]).toEqual([CLUSTER, '2s']);
    expect((await stream.next()).type_url).toBe(ENDPOINT);
    await stream.expectNothing(200);
    stream.ack(cds2);
    const lds = await stream.next();
    expect([lds.type_url, lds.decoded[0]!.address.socket_address.port_value]).toEqual([LISTENER, 10006]);
  });

  it('warms clusters: any CDS change is followed by a fresh EDS answer, even with unchanged endpoints', async () => {
    const { stream, eds } = await synced();
    fixture.xds.cache.publish(snapshotOf('edge', { ...V1, timeouts: { a: 1_500 } }));
    const cds = await stream.next();
    expect(cds.decoded[0]!.connect_timeout).toBe('1.5s');
    const fresh = await stream.next();
    expect(fresh.type_url).toBe(ENDPOINT);
    expect(fresh.version_info).toBe(eds.version_info);
    expect(fresh.nonce).not.toBe(eds.nonce);
    await stream.expectNothing(150); // listeners did not change
  });

  it('shows since when a response waits for its reply: the send time, however long it waits; none once ACKed or NACKed', async () => {
    const clock = new FakeClock();
    const xds = await startXdsServer(['edge'], {}, { clock, timers: clock });
    xds.cache.publish(snapshotOf('edge', V1));
    const stream = new RawSotwStream(xds.address);
    const cds = () => xds.server.clients()[0]!.types[CLUSTER]!;
    try {
      const sentAt = new Date(clock.now()).toISOString();
      stream.request({ type_url: CLUSTER, node: NODE });
      const first = await stream.next();
      expect(cds()).toMatchObject({ configStatus: 'STALE', lastSentAt: sentAt, awaitingReplySince: sentAt });
      clock.advance(90_000);
      xds.cache.publish(snapshotOf('edge', { ...V1, timeouts: { a: 1_500 } })); // no request outstanding: nothing goes
      await stream.expectNothing(100);
      expect(cds().awaitingReplySince).toBe(sentAt);
      stream.ack(first);
      const second = await stream.next(); // the change, now that the client asks again
      const secondAt = new Date(clock.now()).toISOString();
      expect(cds()).toMatchObject({ lastSentVersion: second.version_info, awaitingReplySince: secondAt });
      clock.advance(1_000);
      stream.nack(second, first.version_info, 'cluster a: rejected');
      await eventually(() => expect(cds().configStatus).toBe('ERROR'));
      expect(cds().awaitingReplySince).toBeUndefined();
      expect(stream.violations).toEqual([]);
    } finally {
      stream.close();
      await xds.server.close(200);
    }
  });

  it('awaits no reply to a response for a type the client asks nothing of any more (Envoy does not answer it)', async () => {
    const { stream, eds } = await synced();
    stream.ack(eds, []); // the last cluster went: EDS now names none
    const empty = await stream.next();
    expect([empty.type_url, empty.names]).toEqual([ENDPOINT, []]);
    const status = fixture.xds.server.clients()[0]!.types[ENDPOINT]!;
    expect(status.lastSentVersion).toBe(empty.version_info);
    expect(status.awaitingReplySince).toBeUndefined();
  });

  it('never re-sends a NACKed response, however long it waits; records it; sends the next change as usual', async () => {
    // The streams' timers (NACK retries among them) on a fake clock: "never" is checked a day
    // later, not after a few hundred milliseconds that a slow resend would outlast.
    const clock = new FakeClock();
    const xds = await startXdsServer(['edge'], {}, { clock, timers: clock });
    xds.cache.publish(snapshotOf('edge', V1));
    const stream = new RawSotwStream(xds.address);
    try {
      stream.request({ type_url: CLUSTER, node: NODE });
      stream.ack(await stream.next());
      stream.request({ type_url: ENDPOINT, resource_names: ['a'] });
      stream.ack(await stream.next(), ['a']);
      stream.request({ type_url: LISTENER });
      const lds = await stream.next();
      stream.ack(lds);
      xds.cache.publish(snapshotOf('edge', { ...V1, listeners: { 'listen-a': [10009, 'a'] } }));
      const rejected = await stream.next();
      expect(rejected.type_url).toBe(LISTENER);
      stream.nack(rejected, lds.version_info, 'listener listen-a: invalid filter chain');
      const status = () => xds.server.clients()[0]!.types[LISTENER]!;
      await eventually(() => expect(status().lastNack?.message).toBe('listener listen-a: invalid filter chain'));
      expect(status()).toMatchObject({ configStatus: 'ERROR', lastAckedVersion: lds.version_info, lastNack: { version: rejected.version_info } });

      for (let hour = 0; hour < 24; hour++) clock.advance(3_600_000);
      await stream.expectNothing(100); // anything sent on the way would be on the wire by now

      xds.cache.publish(snapshotOf('edge', { ...V1, listeners: { 'listen-a': [10010, 'a'] } }));
      const next = await stream.next();
      expect(next.type_url).toBe(LISTENER);
      expect(next.decoded[0]!.address.socket_address.port_value).toBe(10010);
      stream.ack(next);
      await eventually(() => expect(status().configStatus).toBe('SYNCED'));
      expect(stream.violations).toEqual([]);
    } finally {
      stream.close();
      await xds.server.close(200);
    }
  });

  it('ignores a request whose nonce is stale', async () => {
    const { stream, eds } = await synced();
    fixture.xds.cache.publish(snapshotOf('edge', { ...V1, clusters: { a: ['10.0.0.1:9000', '10.0.0.3:9000'] } }));
    const update = await stream.next();
    expect(update.type_url).toBe(ENDPOINT);
    // A request answering the previous EDS response, naming a new subscription: stale, ignored.
    stream.request({ type_url: ENDPOINT, resource_names: ['a', 'zzz'], version_info: eds.version_info, response_nonce: eds.nonce });
    await stream.expectNothing(300);
    expect(fixture.xds.server.clients()[0]!.types[ENDPOINT]!.subscribed).toEqual(['a']);
  });

  it('follows subscription changes: added names at once, removed names dropped, absent names pushed when they appear', async () => {
    const twoClusters = { clusters: { a: ['10.0.0.1:9000'], b: ['10.0.0.2:9000'] }, listeners: V1.listeners };
    fixture.xds.cache.publish(snapshotOf('edge', twoClusters));
    const stream = open();
    stream.request({ type_url: ENDPOINT, resource_names: ['a'], node: NODE });
    const first = await stream.next();
    expect(first.names).toEqual(['a']);
    stream.ack(first, ['a', 'b']);
    expect((await stream.next()).names.sort()).toEqual(['a', 'b']);
    const both = stream.received.at(-1)!;
    stream.ack(both, ['b', 'c']);
    const dropped = await stream.next();
    expect(dropped.names).toEqual(['b']);
    stream.ack(dropped, ['b', 'c']);
    await stream.expectNothing(200); // c does not exist yet
    fixture.xds.cache.publish(snapshotOf('edge', { ...twoClusters, clusters: { ...twoClusters.clusters, c: ['10.0.0.4:9000'] } }));
    expect((await stream.next()).names.sort()).toEqual(['b', 'c']);
  });

  it('treats an explicit "*" and an empty first request as wildcard, and a named LDS request as named', async () => {
    const legacy = open();
    legacy.request({ type_url: LISTENER, node: NODE });
    expect((await legacy.next()).names).toEqual(['listen-a']);
    const explicit = open();
    explicit.request({ type_url: CLUSTER, node: NODE, resource_names: ['*'] });
    expect((await explicit.next()).names).toEqual(['a']);
    const named = open();
    named.request({ type_url: LISTENER, node: NODE, resource_names: ['listen-zzz', 'listen-a'] });
    // Only what was named; for LDS and CDS, absence tells the client a resource does not exist.
    expect((await named.next()).names).toEqual(['listen-a']);
    expect(fixture.xds.server.clients().find((c) => Array.isArray(c.types[LISTENER]?.subscribed))?.types[LISTENER]?.subscribed).toEqual(['listen-a', 'listen-zzz']);
  });

  it('does not resend to a client that reconnects holding the current versions, and sends it the next change', async () => {
    const first = await synced();
    first.stream.close();
    const stream = open();
    stream.request({ type_url: CLUSTER, node: NODE, version_info: first.cds.version_info });
    stream.request({ type_url: ENDPOINT, resource_names: ['a'], version_info: first.eds.version_info });
    stream.request({ type_url: LISTENER, version_info: first.lds.version_info });
    await stream.expectNothing(300);
    fixture.xds.cache.publish(snapshotOf('edge', { ...V1, clusters: { a: ['10.0.0.9:9000'] } }));
    const update = await stream.next();
    expect([update.type_url, update.decoded[0]!.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address]).toEqual([ENDPOINT, '10.0.0.9']);
  });

  it('sends a reconnecting client holding an older version the current one', async () => {
    const stream = open();
    stream.request({ type_url: CLUSTER, node: NODE, version_info: 'some-old-version' });
    const cds: SotwResponse = await stream.next();
    expect(cds.names).toEqual(['a']);
  });
});

describe('wildcard rules', () => {
  it('follows the xDS wildcard rules: "*" or a first empty LDS/CDS request is everything, an empty one after names is nothing, EDS is always by name', () => {
    const ask = (typeUrl: typeof CLUSTER | typeof ENDPOINT | typeof LISTENER, previous: Subscription | undefined, names: string[]) => {
      const next = nextSubscription(typeUrl, previous, names);
      return { ...next, names: [...next.names].sort() };
    };
    expect(ask(LISTENER, undefined, [])).toEqual({ wildcard: true, names: [] });
    expect(ask(CLUSTER, undefined, ['a'])).toEqual({ wildcard: false, names: ['a'] });
    expect(ask(CLUSTER, { wildcard: true, names: new Set() }, [])).toEqual({ wildcard: true, names: [] }); // stays legacy wildcard
    expect(ask(CLUSTER, { wildcard: false, names: new Set(['a']) }, [])).toEqual({ wildcard: false, names: [] }); // unsubscribed from all
    expect(ask(CLUSTER, { wildcard: false, names: new Set(['a']) }, ['*', 'b'])).toEqual({ wildcard: true, names: ['b'] });
    expect(ask(ENDPOINT, undefined, [])).toEqual({ wildcard: false, names: [] });
    expect(ask(ENDPOINT, undefined, ['*', 'a'])).toEqual({ wildcard: false, names: ['a'] });
  });
});

describe('stream limits', () => {
  it('budgets requests as xds.streamRequestBurst at once, refilled at xds.streamRequestsPerSecond, never more than the burst', () => {
    const budget = new TokenBucket(2, 3, 1_000); // 2 per second, bursts of 3
    expect([budget.take(1_000), budget.take(1_000), budget.take(1_000), budget.take(1_000)]).toEqual([true, true, true, false]);
    expect(budget.take(1_499)).toBe(false); // 0.998 of a request refilled
    expect(budget.take(1_500)).toBe(true);
    expect(budget.take(1_500)).toBe(false);
    // Idle for a minute: the burst again, not 120 requests.
    expect(Array.from({ length: 4 }, () => budget.take(61_500))).toEqual([true, true, true, false]);
    // A clock that steps back refills nothing, and takes nothing back.
    expect(budget.take(60_000)).toBe(false);
    expect(budget.take(60_500)).toBe(true);
  });

  it('cuts off a looping client with RESOURCE_EXHAUSTED while another keeps being served', async () => {
    const xds = await startXdsServer(['edge'], { streamRequestsPerSecond: 20, streamRequestBurst: 40 });
    xds.cache.publish(snapshotOf('edge', V1));
    const looping = new RawSotwStream(xds.address);
    const steady = new RawSotwStream(xds.address);
    steady.request({ type_url: CLUSTER, node: NODE });
    const cds = await steady.next();
    looping.request({ type_url: CLUSTER, node: NODE });
    for (let i = 0; i < 200; i++) looping.request({ type_url: CLUSTER, resource_names: [] });
    const status = await looping.ended();
    expect(status.code).toBe(8); // RESOURCE_EXHAUSTED
    expect(status.details).toContain('requests per second');

    steady.ack(cds);
    xds.cache.publish(snapshotOf('edge', { ...V1, timeouts: { a: 700 } }));
    expect((await steady.next()).decoded[0]!.connect_timeout).toBe('0.7s');
    looping.close();
    steady.close();
    await xds.server.close(200);
  });

  it('closes connections after the maximum connection age as grpc-js does: GOAWAY, the grace for open streams, then UNAVAILABLE', async () => {
    // grpc-js (server.js, max_connection_age): after the age (+-10% jitter) it sends GOAWAY
    // (NO_ERROR, "max_age") and closes the session; streams still open may go on for the grace,
    // then the session is destroyed and the client's call ends UNAVAILABLE "Connection dropped".
    const AGE_MS = 500;
    const GRACE_MS = 1_000;
    const xds = await startXdsServer(['edge'], { maxConnectionAgeSeconds: AGE_MS / 1000, maxConnectionAgeGraceSeconds: GRACE_MS / 1000 });
    xds.cache.publish(snapshotOf('edge', V1));
    const openedAt = Date.now();
    const stream = new RawSotwStream(xds.address);
    stream.request({ type_url: CLUSTER, node: NODE });
    const cds = await stream.next();
    stream.ack(cds);

    // Past the age (GOAWAY sent by 1.1 x age), within the grace: the open stream is still served.
    await new Promise((r) => setTimeout(r, Math.max(0, openedAt + AGE_MS * 1.1 + 150 - Date.now())));
    expect(stream.status).toBeUndefined();
    xds.cache.publish(snapshotOf('edge', { ...V1, timeouts: { a: 700 } }));
    const during = await stream.next();
    expect(during.decoded[0]!.connect_timeout).toBe('0.7s');

    const status = await stream.ended(5_000);
    const endedAfter = Date.now() - openedAt;
    expect([status.code, status.details]).toEqual([14, 'Connection dropped']); // UNAVAILABLE
    // Not before the age (less its jitter) and the grace; not much after either.
    expect(endedAfter).toBeGreaterThanOrEqual(AGE_MS * 0.9 + GRACE_MS);
    expect(endedAfter).toBeLessThan(AGE_MS * 1.1 + GRACE_MS + 2_000);
    expect(stream.violations).toEqual([]);
    stream.close();
    await xds.server.close(200);
  });
});
