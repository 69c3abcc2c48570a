/**
 * dkv.serverpb.DKVDiscovery over real gRPC, with DKV's wire format: UpdateStatus registers nodes
 * as heartbeats, GetClusterInfo answers with the live, non-INACTIVE ones, filtered and ordered.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { assessHealth } from '../../../src/registry/health.js';
import { startDkvServer, type DkvFixture, type RegionInfo } from '../../support/dkv-client.js';
import { heartbeat } from '../../support/heartbeats.js';

const NOW_TS = String(Date.UTC(2026, 0, 1));

function region(nodeAddress: string, status: string, fields: RegionInfo = {}): RegionInfo {
  return { nodeAddress, status, database: 'default', vBucket: 'shard0', dcID: 'dc1', httpAddress: '', ...fields };
}

/** The fleet, sent in scrambled order so that ordering by nodeAddress is the server's doing. */
const FLEET: RegionInfo[] = [
  region('10.0.0.4:9001', 'ACTIVE_SLAVE', { dcID: 'dc2', masterHost: '10.0.0.1:9001', httpAddress: '10.0.0.4:8181' }),
  region('10.0.0.1:9001', 'LEADER', { nexusClusterUrl: 'http://nexus.dc1:9020', httpAddress: '10.0.0.1:8181' }),
  region('10.0.0.7:9001', 'ACTIVE_SLAVE', { dcID: '', database: 'orders', vBucket: 'shard1' }),
  region('10.0.0.3:9001', 'ACTIVE_SLAVE', { masterHost: '10.0.0.1:9001' }),
  region('10.0.0.6:9001', 'LEADER', { dcID: 'dc2', database: 'orders' }),
  region('10.0.0.2:9001', 'PRIMARY_FOLLOWER', { dcID: 'dc2' }),
  region('10.0.0.5:9001', 'SECONDARY_FOLLOWER', { vBucket: 'shard1' }),
];

async function registerFleet(t: DkvFixture): Promise<void> {
  for (const regionInfo of FLEET) {
    expect(await t.client.updateStatus({ regionInfo, timestamp: NOW_TS })).toEqual({ code: 0, message: '' });
  }
}

async function addresses(t: DkvFixture, filter: Record<string, string> = {}): Promise<string[]> {
  const response = await t.client.getClusterInfo(filter);
  return response.regionInfos.map((info) => info.nodeAddress);
}

function healthOf(t: DkvFixture, id: string) {
  return assessHealth(t.registry.list(), t.clock.now(), t.registry.leaseMs).get(id);
}

describe('DKVDiscovery over gRPC', () => {
  let t: DkvFixture;
  beforeEach(async () => {
    t = await startDkvServer();
  });
  afterEach(async () => {
    await t.close();
  });

  it('UpdateStatus registers LEADER and followers as masters, ACTIVE_SLAVEs as replicas, in their DCs', async () => {
    await registerFleet(t);
    const byId = Object.fromEntries(t.registry.list().map((n) => [n.id, n]));
    expect(Object.keys(byId)).toHaveLength(7);
    expect(byId['10.0.0.1:9001']).toMatchObject({
      address: '10.0.0.1:9001', host: '10.0.0.1', port: 9001, database: 'default', shard: 'shard0', role: 'master', status: 'active', dc: 'dc1', epoch: 0,
      dkv: { regionStatus: 'LEADER', timestamp: NOW_TS, httpAddress: '10.0.0.1:8181', nexusClusterUrl: 'http://nexus.dc1:9020' },
      lastHeartbeatMs: t.clock.now(),
    });
    expect(byId['10.0.0.2:9001']).toMatchObject({ role: 'master', dc: 'dc2', status: 'active', dkv: { regionStatus: 'PRIMARY_FOLLOWER' } });
    expect(byId['10.0.0.5:9001']).toMatchObject({ role: 'master', dc: 'dc1', shard: 'shard1', dkv: { regionStatus: 'SECONDARY_FOLLOWER' } });
    expect(byId['10.0.0.3:9001']).toMatchObject({ role: 'replica', dc: 'dc1', dkv: { regionStatus: 'ACTIVE_SLAVE', masterHost: '10.0.0.1:9001' } });
    expect(byId['10.0.0.4:9001']).toMatchObject({ role: 'replica', dc: 'dc2', dkv: { regionStatus: 'ACTIVE_SLAVE' } });
    // An empty dcID is no dc at all, as an HTTP heartbeat without `dc`.
    expect(byId['10.0.0.7:9001']?.dc).toBeUndefined();
    expect(byId['10.0.0.7:9001']).toMatchObject({ role: 'replica', database: 'orders', shard: 'shard1' });
    for (const id of Object.keys(byId)) expect(healthOf(t, id)).toBe('healthy');
  });

  it('GetClusterInfo answers each node as it last reported itself, ordered by nodeAddress', async () => {
    await registerFleet(t);
    const { regionInfos } = await t.client.getClusterInfo({});
    expect(regionInfos.map((i) => i.nodeAddress)).toEqual(['10.0.0.1:9001', '10.0.0.2:9001', '10.0.0.3:9001', '10.0.0.4:9001', '10.0.0.5:9001', '10.0.0.6:9001', '10.0.0.7:9001']);
    expect(regionInfos.map((i) => i.status)).toEqual(['LEADER', 'PRIMARY_FOLLOWER', 'ACTIVE_SLAVE', 'ACTIVE_SLAVE', 'SECONDARY_FOLLOWER', 'LEADER', 'ACTIVE_SLAVE']);
    expect(regionInfos[0]).toEqual({
      dcID: 'dc1', nodeAddress: '10.0.0.1:9001', database: 'default', vBucket: 'shard0', status: 'LEADER',
      nexusClusterUrl: 'http://nexus.dc1:9020', httpAddress: '10.0.0.1:8181',
    });
    expect(regionInfos[3]).toEqual({
      dcID: 'dc2', nodeAddress: '10.0.0.4:9001', database: 'default', vBucket: 'shard0', status: 'ACTIVE_SLAVE',
      masterHost: '10.0.0.1:9001', httpAddress: '10.0.0.4:8181',
    });
    // proto3 `optional` fields the node never sent are absent on the wire, not "".
    expect(regionInfos[0]).not.toHaveProperty('masterHost');
    expect(regionInfos[6]).toMatchObject({ dcID: '', database: 'orders', vBucket: 'shard1', httpAddress: '' });
  });

  it.each<[string, Record<string, string>, string[]]>([
    ['no filter', {}, ['1', '2', '3', '4', '5', '6', '7']],
    ['empty filters (= any)', { dcID: '', database: '', vBucket: '' }, ['1', '2', '3', '4', '5', '6', '7']],
    ['dc dc1', { dcID: 'dc1' }, ['1', '3', '5']],
    ['dc dc2', { dcID: 'dc2' }, ['2', '4', '6']],
    ['database default', { database: 'default' }, ['1', '2', '3', '4', '5']],
    ['database orders', { database: 'orders' }, ['6', '7']],
    ['vBucket shard0', { vBucket: 'shard0' }, ['1', '2', '3', '4', '6']],
    ['vBucket shard1', { vBucket: 'shard1' }, ['5', '7']],
    ['dc2 + default', { dcID: 'dc2', database: 'default' }, ['2', '4']],
    ['dc1 + default', { dcID: 'dc1', database: 'default' }, ['1', '3', '5']],
    ['database + vBucket', { database: 'orders', vBucket: 'shard1' }, ['7']],
    ['dc + vBucket', { dcID: 'dc2', vBucket: 'shard0' }, ['2', '4', '6']],
    ['all three', { dcID: 'dc1', database: 'default', vBucket: 'shard1' }, ['5']],
    ['all three, another shard', { dcID: 'dc2', database: 'orders', vBucket: 'shard0' }, ['6']],
    ['a dc matching nothing', { dcID: 'dc3' }, []],
    ['a combination matching nothing', { dcID: 'dc1', database: 'orders' }, []],
    ['a vBucket matching nothing', { database: 'default', vBucket: 'shard9' }, []],
  ])('GetClusterInfo filtered by %s', async (_name, filter, expected) => {
    await registerFleet(t);
    expect(await addresses(t, filter)).toEqual(expected.map((n) => `10.0.0.${n}:9001`));
  });

  it('INACTIVE makes the node inactive at once, keeps its role, and takes it out of GetClusterInfo', async () => {
    await registerFleet(t);
    let changes = 0;
    t.registry.onChange(() => changes++);
    const reply = await t.client.updateStatus({ regionInfo: region('10.0.0.1:9001', 'INACTIVE', { httpAddress: '10.0.0.1:8181' }), timestamp: NOW_TS });
    expect(reply).toEqual({ code: 0, message: '' });
    expect(t.registry.get('10.0.0.1:9001')).toMatchObject({ status: 'inactive', role: 'master', dkv: { regionStatus: 'INACTIVE' } });
    expect(healthOf(t, '10.0.0.1:9001')).toBe('inactive');
    expect(changes).toBe(1); // a routing change: Envoy must stop sending to it now
    expect(await addresses(t, { dcID: 'dc1', database: 'default', vBucket: 'shard0' })).toEqual(['10.0.0.3:9001']);

    // A replica going INACTIVE stays a replica; a node first heard of as INACTIVE is a replica.
    await t.client.updateStatus({ regionInfo: region('10.0.0.3:9001', 'INACTIVE'), timestamp: NOW_TS });
    await t.client.updateStatus({ regionInfo: region('10.0.0.9:9001', 'INACTIVE'), timestamp: NOW_TS });
    expect(t.registry.get('10.0.0.3:9001')).toMatchObject({ status: 'inactive', role: 'replica' });
    expect(t.registry.get('10.0.0.9:9001')).toMatchObject({ status: 'inactive', role: 'replica' });
    expect(await addresses(t, { dcID: 'dc1', database: 'default', vBucket: 'shard0' })).toEqual([]);

    // And back: LEADER again is active and listed.
    await t.client.updateStatus({ regionInfo: region('10.0.0.1:9001', 'LEADER'), timestamp: NOW_TS });
    expect(healthOf(t, '10.0.0.1:9001')).toBe('healthy');
    expect(await addresses(t, { dcID: 'dc1', vBucket: 'shard0' })).toEqual(['10.0.0.1:9001']);
  });

  it('LEADER <-> PRIMARY_FOLLOWER is no routing change, but GetClusterInfo reports the new status', async () => {
    await registerFleet(t);
    let changes = 0;
    t.registry.onChange(() => changes++);
    await t.client.updateStatus({ regionInfo: region('10.0.0.1:9001', 'PRIMARY_FOLLOWER'), timestamp: NOW_TS });
    await t.client.updateStatus({ regionInfo: region('10.0.0.2:9001', 'LEADER', { dcID: 'dc2' }), timestamp: NOW_TS });
    expect(changes).toBe(0);
    const infos = (await t.client.getClusterInfo({ database: 'default', vBucket: 'shard0' })).regionInfos;
    expect(infos.slice(0, 2).map((i) => [i.nodeAddress, i.status])).toEqual([
      ['10.0.0.1:9001', 'PRIMARY_FOLLOWER'],
      ['10.0.0.2:9001', 'LEADER'],
    ]);
    // Whereas a master becoming a slave moves it between clusters.
    await t.client.updateStatus({ regionInfo: region('10.0.0.1:9001', 'ACTIVE_SLAVE'), timestamp: NOW_TS });
    expect(changes).toBe(1);
    expect(t.registry.get('10.0.0.1:9001')?.role).toBe('replica');
  });

  it("liveness follows the server's clock: a node's timestamp far in the future or past changes nothing", async () => {
    const future = String(Date.UTC(2036, 0, 1));
    const hlcMax = '18446744073709551615';
    await t.client.updateStatus({ regionInfo: region('10.0.0.1:9001', 'LEADER'), timestamp: future });
    await t.client.updateStatus({ regionInfo: region('10.0.0.2:9001', 'ACTIVE_SLAVE'), timestamp: '0' });
    await t.client.updateStatus({ regionInfo: region('10.0.0.3:9001', 'ACTIVE_SLAVE'), timestamp: hlcMax });
    const registeredAt = t.clock.now();
    for (const id of ['10.0.0.1:9001', '10.0.0.2:9001', '10.0.0.3:9001']) {
      expect(t.registry.get(id)?.lastHeartbeatMs).toBe(registeredAt);
      expect(healthOf(t, id)).toBe('healthy'); // a timestamp in the past does not make it stale
    }
    expect(t.registry.get('10.0.0.3:9001')?.dkv?.timestamp).toBe(hlcMax); // recorded exactly, as sent
    expect(await addresses(t)).toHaveLength(3);

    t.clock.advance(10_000); // the lease's last millisecond
    expect(await addresses(t)).toHaveLength(3);
    t.clock.advance(1); // a timestamp in the future does not keep it alive
    for (const id of ['10.0.0.1:9001', '10.0.0.2:9001', '10.0.0.3:9001']) expect(healthOf(t, id)).toBe('expired');
    expect(await addresses(t)).toEqual([]);

    // A fresh UpdateStatus revives it, whatever its timestamp.
    await t.client.updateStatus({ regionInfo: region('10.0.0.2:9001', 'ACTIVE_SLAVE'), timestamp: '1' });
    expect(await addresses(t)).toEqual(['10.0.0.2:9001']);
  });

  it('honours a lease given to the service', async () => {
    await t.close();
    t = await startDkvServer({ leaseMs: 2_000 });
    await t.client.updateStatus({ regionInfo: region('10.0.0.1:9001', 'LEADER'), timestamp: NOW_TS });
    t.clock.advance(2_001);
    expect(await addresses(t)).toEqual([]);
    expect(healthOf(t, '10.0.0.1:9001')).toBe('healthy'); // the registry's own lease (10 s) is untouched
  });

  it('reports nodes registered over HTTP with a derived status, and leaves out inactive, expired and fenced ones', async () => {
    t.registry.record(heartbeat({ id: 'http-m', address: '10.1.0.1:9001', role: 'master', dc: 'dc1', epoch: 2 }));
    t.registry.record(heartbeat({ id: 'http-old', address: '10.1.0.2:9001', role: 'master', dc: 'dc1', epoch: 1 })); // fenced
    t.registry.record(heartbeat({ id: 'http-r', address: '10.1.0.3:9001', role: 'replica', status: 'draining' }));
    t.registry.record(heartbeat({ id: 'http-off', address: '10.1.0.4:9001', role: 'replica', status: 'inactive' }));
    expect(healthOf(t, 'http-old')).toBe('fenced');
    const { regionInfos } = await t.client.getClusterInfo({});
    expect(regionInfos).toEqual([
      { dcID: 'dc1', nodeAddress: '10.1.0.1:9001', database: 'default', vBucket: 'shard0', status: 'LEADER', httpAddress: '' },
      { dcID: '', nodeAddress: '10.1.0.3:9001', database: 'default', vBucket: 'shard0', status: 'ACTIVE_SLAVE', httpAddress: '' },
    ]);
    t.clock.advance(5_000);
    t.registry.record(heartbeat({ id: 'http-r', address: '10.1.0.3:9001', role: 'replica' }));
    t.clock.advance(5_001); // http-m expired, http-r heard from 5 s ago
    expect(await addresses(t)).toEqual(['10.1.0.3:9001']);
  });
});

const GOOD: RegionInfo = region('10.0.0.1:9001', 'LEADER', { httpAddress: '10.0.0.1:8181' });

/** [case, request, the field the message must name] */
const MALFORMED: Array<[string, object, string]> = [
  ['missing regionInfo', { timestamp: NOW_TS }, 'regionInfo: is required'],
  ['empty regionInfo', { regionInfo: {}, timestamp: NOW_TS }, 'regionInfo.nodeAddress: is required'],
  ['empty nodeAddress', { regionInfo: { ...GOOD, nodeAddress: '' } }, 'regionInfo.nodeAddress: is required'],
  ['nodeAddress without a port', { regionInfo: { ...GOOD, nodeAddress: '10.0.0.1' } }, 'regionInfo.nodeAddress: must be host:port'],
  ['port 0', { regionInfo: { ...GOOD, nodeAddress: '10.0.0.1:0' } }, 'regionInfo.nodeAddress: port 0 is outside 1..65535'],
  ['port 70000', { regionInfo: { ...GOOD, nodeAddress: '10.0.0.1:70000' } }, 'regionInfo.nodeAddress: port 70000 is outside 1..65535'],
  ['non-numeric port', { regionInfo: { ...GOOD, nodeAddress: '10.0.0.1:http' } }, 'regionInfo.nodeAddress: port "http" is not a number'],
  ['bad host', { regionInfo: { ...GOOD, nodeAddress: 'bad_host:9001' } }, 'regionInfo.nodeAddress: host "bad_host"'],
  ['bad IPv4', { regionInfo: { ...GOOD, nodeAddress: '300.1.1.1:9001' } }, 'regionInfo.nodeAddress: host "300.1.1.1"'],
  ['unbracketed IPv6', { regionInfo: { ...GOOD, nodeAddress: 'fd00::1:9001' } }, 'regionInfo.nodeAddress: an IPv6 host must be in brackets'],
  ['bracketed IPv6 (not an id)', { regionInfo: { ...GOOD, nodeAddress: '[fd00::1]:9001' } }, "regionInfo.nodeAddress: must be 1..128 characters of [A-Za-z0-9._:@-] (it is the node's id)"],
  // A valid DNS name and port, 129 characters in all: only the id's length rule refuses it.
  ['129-char nodeAddress', { regionInfo: { ...GOOD, nodeAddress: `${'a'.repeat(60)}.${'b'.repeat(63)}:9001` } }, 'regionInfo.nodeAddress: must be at most 128 characters'],
  ['vBucket with a slash', { regionInfo: { ...GOOD, vBucket: 'shard/0' } }, 'regionInfo.vBucket: must be 1..64 characters of [A-Za-z0-9._-]'],
  ['empty vBucket', { regionInfo: { ...GOOD, vBucket: '' } }, 'regionInfo.vBucket: is required'],
  ['65-char database', { regionInfo: { ...GOOD, database: 'd'.repeat(65) } }, 'regionInfo.database: must be 1..64 characters'],
  ['empty database', { regionInfo: { ...GOOD, database: '' } }, 'regionInfo.database: is required'],
  ['database with a space', { regionInfo: { ...GOOD, database: 'my db' } }, 'regionInfo.database: must be 1..64 characters'],
  ['dcID with a control character', { regionInfo: { ...GOOD, dcID: 'dc\u00011' } }, 'regionInfo.dcID: must be 1..64 characters'],
  ['65-char dcID', { regionInfo: { ...GOOD, dcID: 'c'.repeat(65) } }, 'regionInfo.dcID: must be 1..64 characters'],
  ['unknown RegionStatus number', { regionInfo: { ...GOOD, status: 9 } }, 'regionInfo.status: unknown RegionStatus 9'],
  ['negative RegionStatus number', { regionInfo: { ...GOOD, status: -1 } }, 'regionInfo.status: unknown RegionStatus -1'],
  ['httpAddress too long', { regionInfo: { ...GOOD, httpAddress: 'h'.repeat(257) } }, 'regionInfo.httpAddress: must be at most 256 characters'],
  ['masterHost with a newline', { regionInfo: { ...GOOD, masterHost: '10.0.0.2:9001\n' } }, 'regionInfo.masterHost: must not contain control characters'],
  ['nexusClusterUrl too long', { regionInfo: { ...GOOD, nexusClusterUrl: `http://${'n'.repeat(256)}` } }, 'regionInfo.nexusClusterUrl: must be at most 256 characters'],
];

describe('DKVDiscovery.UpdateStatus refuses malformed requests', () => {
  let t: DkvFixture;
  beforeEach(async () => {
    t = await startDkvServer();
    // The good request's node exists already, so a wrongful update would show.
    await registerFleet(t);
    t.clock.advance(1_000); // a wrongful touch would move lastHeartbeatMs
  });
  afterEach(async () => {
    await t.close();
  });

  it.each(MALFORMED)('%s: code -1 naming the field, the registry unchanged', async (_name, request, message) => {
    const before = JSON.stringify(t.registry.list());
    let changes = 0;
    t.registry.onChange(() => changes++);
    const reply = await t.client.updateStatus(request);
    expect(reply.code).toBe(-1);
    expect(reply.message.startsWith(message)).toBe(true);
    expect(JSON.stringify(t.registry.list())).toBe(before);
    expect(changes).toBe(0);
  });

  it('the good request those are made from is accepted (so each case fails for its own field)', async () => {
    const before = JSON.stringify(t.registry.list());
    expect(await t.client.updateStatus({ regionInfo: GOOD, timestamp: NOW_TS })).toEqual({ code: 0, message: '' });
    expect(JSON.stringify(t.registry.list())).not.toBe(before);
  });
});

describe('DKVDiscovery authentication seam', () => {
  let t: DkvFixture;
  const bearer = (token: string) => {
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    return metadata;
  };
  const check = (metadata: grpc.Metadata) => (metadata.get('authorization')[0] === 'Bearer s3cret' ? undefined : 'a valid bearer token is required');
  beforeEach(async () => {
    t = await startDkvServer({ authorize: check, authorizeRead: check });
  });
  afterEach(async () => {
    await t.close();
  });

  it('UpdateStatus without a valid token fails UNAUTHENTICATED before anything is looked at', async () => {
    const request = { regionInfo: GOOD, timestamp: NOW_TS };
    await expect(t.client.updateStatus(request)).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED, details: 'a valid bearer token is required' });
    await expect(t.client.updateStatus(request, bearer('wrong'))).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    // Even a malformed request is refused for its missing token, not its content.
    await expect(t.client.updateStatus({ timestamp: NOW_TS })).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    expect(t.registry.list()).toEqual([]);
    expect(await t.client.updateStatus(request, bearer('s3cret'))).toEqual({ code: 0, message: '' });
    expect(t.registry.list().map((n) => n.id)).toEqual(['10.0.0.1:9001']);
  });

  it('GetClusterInfo has its own seam', async () => {
    await expect(t.client.getClusterInfo({})).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    expect(await t.client.getClusterInfo({}, bearer('s3cret'))).toEqual({ regionInfos: [] });
  });
});
