/**
 * Contract 5.4, CDS before EDS before LDS, as Envoy lives it: a cluster warms until it gets its
 * endpoints, and a listener routing to a warming cluster warms too. So a listener update goes out
 * only after the clusters were sent and ACKed and fresh endpoints went out for each of them; and
 * every CDS answer (a reconnect's included) is followed by a fresh EDS answer.
 */
import { describe, expect, it } from 'vitest';
import { CLUSTER, ENDPOINT, LISTENER } from '../../src/envoy-api/type-urls.js';
import { RawDeltaStream, RawSotwStream } from '../support/raw-xds.js';
import { snapshotOf, type TopologySpec } from '../support/snapshots.js';
import { xdsServerPerTest } from '../support/xds-server.js';

const NODE = { id: 'edge', cluster: 'edge' };
const V1: TopologySpec = { clusters: { a: ['10.0.0.1:9000'] }, listeners: { 'listen-a': [10000, 'a'] } };
const WITH_B: TopologySpec = { clusters: { a: ['10.0.0.1:9000'], b: ['10.0.0.2:9000'] }, listeners: { 'listen-a': [10000, 'a'], 'listen-b': [10001, 'b'] } };

describe('SotW: listeners wait for warm clusters', () => {
  const fixture = xdsServerPerTest((address) => new RawSotwStream(address), V1);

  it('answers CDS and LDS asked together (as Envoy starts) in the order CDS, EDS, LDS', async () => {
    const stream = fixture.open();
    stream.request({ type_url: CLUSTER, node: NODE });
    stream.request({ type_url: LISTENER });
    const cds = await stream.next();
    expect(cds.type_url).toBe(CLUSTER);
    await stream.expectNothing(200); // not LDS: the clusters are neither ACKed nor given endpoints
    stream.ack(cds);
    await stream.expectNothing(200); // ACKed, but still warming: no EDS answer yet
    stream.request({ type_url: ENDPOINT, resource_names: ['a'] });
    const eds = await stream.next();
    expect([eds.type_url, eds.names]).toEqual([ENDPOINT, ['a']]);
    const lds = await stream.next();
    expect([lds.type_url, lds.names]).toEqual([LISTENER, ['listen-a']]);
  });

  it('sends a new listener only after its new cluster was ACKed and the client was sent its endpoints', async () => {
    const stream = fixture.open();
    stream.request({ type_url: CLUSTER, node: NODE });
    stream.ack(await stream.next());
    stream.request({ type_url: ENDPOINT, resource_names: ['a'] });
    const eds = await stream.next();
    stream.ack(eds, ['a']);
    stream.request({ type_url: LISTENER });
    stream.ack(await stream.next());
    await stream.expectNothing(100);

    fixture.xds.cache.publish(snapshotOf('edge', WITH_B));
    const cds = await stream.next();
    expect([cds.type_url, cds.names.sort()]).toEqual([CLUSTER, ['a', 'b']]);
    const fresh = await stream.next();
    expect([fresh.type_url, fresh.names]).toEqual([ENDPOINT, ['a']]); // the client has not asked for b yet
    await stream.expectNothing(200);
    stream.ack(cds);
    await stream.expectNothing(200); // b is still warming
    stream.ack(fresh, ['a', 'b']);
    const edsB = await stream.next();
    expect([edsB.type_url, edsB.names.sort()]).toEqual([ENDPOINT, ['a', 'b']]);
    const lds = await stream.next();
    expect([lds.type_url, lds.names.sort()]).toEqual([LISTENER, ['listen-a', 'listen-b']]);
  });

  it('follows a reconnect that is sent clusters with a fresh EDS answer, though the client states the EDS version it holds', async () => {
    const stream = fixture.open();
    stream.request({ type_url: CLUSTER, node: NODE });
    const cds = await stream.next();
    stream.ack(cds);
    stream.request({ type_url: ENDPOINT, resource_names: ['a'] });
    const eds = await stream.next();
    stream.ack(eds, ['a']);
    stream.request({ type_url: LISTENER });
    const lds = await stream.next();
    stream.ack(lds);
    stream.close();
    // Meanwhile (a restart, a hot reload elsewhere) only the cluster's connect timeout changed.
    fixture.xds.cache.publish(snapshotOf('edge', { ...V1, timeouts: { a: 1_500 } }));

    const again = fixture.open();
    again.request({ type_url: CLUSTER, node: NODE, version_info: cds.version_info });
    again.request({ type_url: LISTENER, version_info: lds.version_info });
    const newCds = await again.next();
    expect([newCds.type_url, newCds.decoded[0]!.connect_timeout]).toEqual([CLUSTER, '1.5s']);
    again.ack(newCds);
    again.request({ type_url: ENDPOINT, resource_names: ['a'], version_info: eds.version_info });
    const newEds = await again.next();
    expect([newEds.type_url, newEds.names, newEds.version_info]).toEqual([ENDPOINT, ['a'], eds.version_info]);
    again.ack(newEds, ['a']);
    await again.expectNothing(200); // listeners are unchanged
  });
});

describe('delta: listeners wait for warm clusters', () => {
  const fixture = xdsServerPerTest((address) => new RawDeltaStream(address), V1);

  it('answers CDS and LDS asked together in the order CDS, EDS, LDS', async () => {
    const stream = fixture.open();
    stream.request({ type_url: CLUSTER, node: NODE });
    stream.request({ type_url: LISTENER });
    const cds = await stream.next();
    expect(cds.type_url).toBe(CLUSTER);
    await stream.expectNothing(200);
    stream.ack(cds);
    stream.request({ type_url: ENDPOINT, resource_names_subscribe: ['a'] });
    const eds = await stream.next();
    expect([eds.type_url, eds.names]).toEqual([ENDPOINT, ['a']]);
    const lds = await stream.next();
    expect([lds.type_url, lds.names]).toEqual([LISTENER, ['listen-a']]);
  });

  it('sends a new listener only after its new cluster was ACKed and its endpoints were sent', async () => {
    const stream = fixture.open();
    stream.request({ type_url: CLUSTER, node: NODE });
    stream.ack(await stream.next());
    stream.request({ type_url: ENDPOINT, resource_names_subscribe: ['a'] });
    stream.ack(await stream.next());
    stream.request({ type_url: LISTENER });
    stream.ack(await stream.next());
    await stream.expectNothing(100);

    fixture.xds.cache.publish(snapshotOf('edge', WITH_B));
    const cds = await stream.next();
    expect([cds.type_url, cds.names]).toEqual([CLUSTER, ['b']]);
    await stream.expectNothing(200);
    stream.ack(cds);
    await stream.expectNothing(200);
    stream.request({ type_url: ENDPOINT, resource_names_subscribe: ['b'] });
    const edsB = await stream.next();
    expect([edsB.type_url, edsB.names]).toEqual([ENDPOINT, ['b']]);
    const lds = await stream.next();
    expect([lds.type_url, lds.names]).toEqual([LISTENER, ['listen-b']]);
  });

  it('follows a reconnect that is sent a cluster with fresh endpoints, though initial_resource_versions say they are held', async () => {
    const stream = fixture.open();
    stream.request({ type_url: CLUSTER, node: NODE });
    const cds = await stream.next();
    stream.ack(cds);
    stream.request({ type_url: ENDPOINT, resource_names_subscribe: ['a'] });
    const eds = await stream.next();
    stream.ack(eds);
    stream.request({ type_url: LISTENER });
    const lds = await stream.next();
    stream.ack(lds);
    stream.close();
    fixture.xds.cache.publish(snapshotOf('edge', { ...V1, timeouts: { a: 1_500 } }));

    const again = fixture.open();
    again.request({ type_url: CLUSTER, node: NODE, initial_resource_versions: cds.versions });
    again.request({ type_url: LISTENER, initial_resource_versions: lds.versions });
    const newCds = await again.next();
    expect([newCds.type_url, newCds.names]).toEqual([CLUSTER, ['a']]);
    again.ack(newCds);
    again.request({ type_url: ENDPOINT, resource_names_subscribe: ['a'], initial_resource_versions: eds.versions });
    const newEds = await again.next();
    expect([newEds.type_url, newEds.names, newEds.versions]).toEqual([ENDPOINT, ['a'], eds.versions]);
    again.ack(newEds);
    await again.expectNothing(200);
  });
});
