/**
 * Delta (incremental) ADS, rule by rule: per-resource versions are content hashes, only changes
 * are sent, removals are named, initial_resource_versions are honoured on reconnect, NACKs are
 * not answered with the same content, and clusters go only after the listeners are updated.
 */
import { describe, expect, it } from 'vitest';
import { CLUSTER, ENDPOINT, LISTENER } from '../../src/envoy-api/type-urls.js';
import { FakeClock } from '../support/fake-clock.js';
import { eventually } from '../support/harness.js';
import { RawDeltaStream } from '../support/raw-xds.js';
import { snapshotOf, type TopologySpec } from '../support/snapshots.js';
import { resourceVersionOf, setVersionOf } from '../support/version-oracle.js';
import { startXdsServer, xdsServerPerTest } from '../support/xds-server.js';

const NODE = { id: 'edge', cluster: 'edge' };
const V1: TopologySpec = { clusters: { a: ['10.0.0.1:9000'], b: ['10.0.0.2:9000'] }, listeners: { 'listen-a': [10000, 'a'], 'listen-b': [10001, 'b'] } };

describe('delta ADS conformance', () => {
  const fixture = xdsServerPerTest((address) => new RawDeltaStream(address), V1);
  const open = () => fixture.open();
  const versionsOf = (typeUrl: string) => Object.fromEntries([...fixture.xds.cache.get('edge')!.sets[typeUrl as typeof CLUSTER].items].map(([name, r]) => [name, r.version]));

  async function synced() {
    const stream = open();
    stream.request({ type_url: CLUSTER, node: NODE });
    const cds = await stream.next();
    stream.ack(cds);
    stream.request({ type_url: ENDPOINT, resource_names_subscribe: ['a', 'b'] });
    const eds = await stream.next();
    stream.ack(eds);
    stream.request({ type_url: LISTENER });
    const lds = await stream.next();
    stream.ack(lds);
    await stream.expectNothing(100);
    return { stream, cds, eds, lds };
  }

  it('sends every resource once with its content-hash version, wildcard for CDS/LDS and by name for EDS', async () => {
    const { cds, eds, lds } = await synced();
    // Each version is the hash of the bytes received, and the system version folds every name
    // and version sent (these first answers carry each whole set): computed here, not read back.
    for (const response of [cds, eds, lds]) {
      expect(response.names.length).toBeGreaterThan(0);
      for (const name of response.names) expect(response.versions[name], name).toBe(resourceVersionOf(response.values[name]!));
      expect(response.system_version_info).toBe(setVersionOf(Object.entries(response.versions)));
    }
    expect(cds.versions).toEqual(versionsOf(CLUSTER));
    expect(eds.versions).toEqual(versionsOf(ENDPOINT));
    expect(lds.versions).toEqual(versionsOf(LISTENER));
    expect(cds.system_version_info).toBe(fixture.xds.cache.get('edge')!.sets[CLUSTER].version);
    expect([cds.removed, eds.removed, lds.removed]).toEqual([[], [], []]);
  });

  it('sends only what changed, and names what is gone, removing clusters only after listeners', async () => {
    const { stream } = await synced();
    fixture.xds.cache.publish(snapshotOf('edge', { clusters: { a: ['10.0.0.9:9000'], c: ['10.0.0.3:9000'] }, listeners: { 'listen-a': [10000, 'a'], 'listen-c': [10002, 'c'] } }));
    const cds = await stream.next();
    expect([cds.type_url, cds.names, cds.removed]).toEqual([CLUSTER, ['c'], []]); // b held: listen-b still routes to it
    expect(cds.versions.c).toBe(resourceVersionOf(cds.values.c!));
    const eds = await stream.next();
    expect([eds.type_url, eds.names, eds.removed]).toEqual([ENDPOINT, ['a'], []]); // a changed; b kept while b is held
    expect(eds.versions.a).toBe(resourceVersionOf(eds.values.a!));
    await stream.expectNothing(150); // listeners wait for c to be ACKed and given endpoints
    stream.ack(cds);
    // As Envoy does, the client ACKs and subscribes to the endpoints of the new cluster c.
    stream.request({ type_url: ENDPOINT, response_nonce: eds.nonce, resource_names_subscribe: ['c'] });
    const edsC = await stream.next();
    expect([edsC.type_url, edsC.names, edsC.removed]).toEqual([ENDPOINT, ['c'], []]);
    const lds = await stream.next();
    expect([lds.type_url, lds.names, lds.removed]).toEqual([LISTENER, ['listen-c'], ['listen-b']]);
    stream.ack(lds);
    const removal = await stream.next();
    expect([removal.type_url, removal.names, removal.removed]).toEqual([CLUSTER, [], ['b']]);
    stream.ack(edsC);
    const edsNext = await stream.next();
    expect([edsNext.type_url, edsNext.names, edsNext.removed]).toEqual([ENDPOINT, [], ['b']]);
  });

  it('honours initial_resource_versions on reconnect: unchanged is not sent, vanished is removed', async () => {
    const { stream, cds, lds } = await synced();
    stream.close();
    fixture.xds.cache.publish(snapshotOf('edge', { clusters: { a: ['10.0.0.1:9000'] }, listeners: { 'listen-a': [10000, 'a'] } }));
    const again = open();
    again.request({ type_url: CLUSTER, node: NODE, initial_resource_versions: cds.versions });
    const first = await again.next();
    expect([first.names, first.removed]).toEqual([[], ['b']]);
    again.ack(first);
    again.request({ type_url: LISTENER, initial_resource_versions: lds.versions });
    const listeners = await again.next();
    expect([listeners.names, listeners.removed]).toEqual([[], ['listen-b']]);
    again.ack(listeners);
    await again.expectNothing(200);
  });

  it('sends nothing to a client that reconnects holding exactly the current resources', async () => {
    const { stream, cds } = await synced();
    stream.close();
    const again = open();
    again.request({ type_url: CLUSTER, node: NODE, initial_resource_versions: cds.versions });
    await again.expectNothing(300);
  });

  it('does not answer a NACK with the same content, however long it waits; records it; sends the next change', async () => {
    // On a fake clock (the streams' timers, NACK retries among them): "never" is checked a day later.
    const clock = new FakeClock();
    const xds = await startXdsServer(['edge'], {}, { clock, timers: clock });
    xds.cache.publish(snapshotOf('edge', V1));
    const stream = new RawDeltaStream(xds.address);
    try {
      stream.request({ type_url: CLUSTER, node: NODE });
      stream.ack(await stream.next());
      stream.request({ type_url: ENDPOINT, resource_names_subscribe: ['a', 'b'] });
      stream.ack(await stream.next());
      stream.request({ type_url: LISTENER });
      stream.ack(await stream.next());
      xds.cache.publish(snapshotOf('edge', { ...V1, timeouts: { a: 900 } }));
      const rejected = await stream.next();
      expect(rejected.names).toEqual(['a']);
      stream.request({ type_url: CLUSTER, response_nonce: rejected.nonce, error_detail: { code: 3, message: 'cluster a: bad timeout' } });
      const status = () => xds.server.clients()[0]!.types[CLUSTER]!;
      await eventually(() => expect(status()).toMatchObject({ configStatus: 'ERROR', lastNack: { message: 'cluster a: bad timeout' } }));
      // The fresh EDS for the updated cluster is the only thing still owed.
      const eds = await stream.next();
      expect([eds.type_url, eds.names]).toEqual([ENDPOINT, ['a']]);
      stream.ack(eds);

      for (let hour = 0; hour < 24; hour++) clock.advance(3_600_000);
      await stream.expectNothing(100); // anything sent on the way would be on the wire by now

      xds.cache.publish(snapshotOf('edge', { ...V1, timeouts: { a: 800 } }));
      const next = await stream.next();
      expect([next.type_url, next.names]).toEqual([CLUSTER, ['a']]);
      expect(stream.violations).toEqual([]);
    } finally {
      stream.close();
      await xds.server.close(200);
    }
  });

  it('answers a subscription added mid-stream at once, and forgets an unsubscribed name', async () => {
    const stream = open();
    stream.request({ type_url: ENDPOINT, node: NODE, resource_names_subscribe: ['a'] });
    const first = await stream.next();
    expect(first.names).toEqual(['a']);
    stream.ack(first);
    stream.request({ type_url: ENDPOINT, resource_names_subscribe: ['b'], resource_names_unsubscribe: ['a'] });
    const second = await stream.next();
    expect([second.names, second.removed]).toEqual([['b'], []]);
    stream.ack(second);
    fixture.xds.cache.publish(snapshotOf('edge', { ...V1, clusters: { a: ['10.0.0.7:9000'], b: ['10.0.0.2:9000'] } }));
    await stream.expectNothing(250); // a changed, but nobody asks for it any more
  });
});
