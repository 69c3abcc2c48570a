/** The UpdateStatusRequest -> Heartbeat mapping and the .proto's location, without a server. */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DKV_PROTO_PATH, dkvDiscoveryDefinition, dkvProtoPathFrom } from '../../../src/sources/dkv/protos.js';
import { dkvToHeartbeat, regionStatusOf, roleOf } from '../../../src/sources/dkv/to-heartbeat.js';
import type { UpdateStatusRequestMessage } from '../../../src/sources/dkv/protos.js';
import { TEST_DKV_PROTO } from '../../support/dkv-client.js';

function request(fields: Partial<NonNullable<UpdateStatusRequestMessage['regionInfo']>> = {}, timestamp = '42'): UpdateStatusRequestMessage {
  return {
    regionInfo: { dcID: 'dc1', nodeAddress: 'dkv-1.example:9001', database: 'default', vBucket: 'vb7', status: 'LEADER', httpAddress: 'dkv-1.example:8181', ...fields },
    timestamp,
  };
}

describe('dkvToHeartbeat', () => {
  it('maps nodeAddress to id and address, vBucket to shard, dcID to dc, and keeps the DKV details', () => {
    expect(dkvToHeartbeat(request({ masterHost: 'm:1', nexusClusterUrl: 'http://n' }), undefined)).toEqual({
      ok: true,
      heartbeat: {
        id: 'dkv-1.example:9001',
        address: 'dkv-1.example:9001',
        host: 'dkv-1.example',
        port: 9001,
        database: 'default',
        shard: 'vb7',
        role: 'master',
        status: 'active',
        dc: 'dc1',
        epoch: 0,
        labels: {},
        dkv: { regionStatus: 'LEADER', timestamp: '42', httpAddress: 'dkv-1.example:8181', masterHost: 'm:1', nexusClusterUrl: 'http://n' },
      },
    });
  });

  it.each([
    ['LEADER', 'master', 'active'],
    ['PRIMARY_FOLLOWER', 'master', 'active'],
    ['SECONDARY_FOLLOWER', 'master', 'active'],
    ['ACTIVE_SLAVE', 'replica', 'active'],
    ['INACTIVE', 'replica', 'inactive'],
  ] as const)('%s -> role %s, status %s', (status, role, nodeStatus) => {
    const result = dkvToHeartbeat(request({ status }), undefined);
    expect(result.ok && [result.heartbeat.role, result.heartbeat.status]).toEqual([role, nodeStatus]);
  });

  it('INACTIVE keeps the role the node had; other statuses do not', () => {
    expect(roleOf('INACTIVE', 'master')).toBe('master');
    expect(roleOf('INACTIVE', undefined)).toBe('replica');
    expect(roleOf('ACTIVE_SLAVE', 'master')).toBe('replica');
    const result = dkvToHeartbeat(request({ status: 'INACTIVE' }), { role: 'master' });
    expect(result.ok && result.heartbeat.role).toBe('master');
  });

  it('treats empty dcID as no dc and empty optional strings as absent', () => {
    const result = dkvToHeartbeat(request({ dcID: '', masterHost: '', nexusClusterUrl: '', httpAddress: '' }), undefined);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.heartbeat.dc).toBeUndefined();
    expect(result.heartbeat.dkv).toEqual({ regionStatus: 'LEADER', timestamp: '42', httpAddress: '' });
  });

  it('refuses a timestamp that is not a uint64 (only a hand-made message can carry one)', () => {
    expect(dkvToHeartbeat(request({}, '-1'), undefined)).toEqual({ ok: false, message: 'timestamp: must be a uint64' });
  });

  it('refuses a nodeAddress whose port has a leading zero, as POST /v1/heartbeat does', () => {
    expect(dkvToHeartbeat(request({ nodeAddress: '127.0.0.1:09201' }), undefined)).toEqual({
      ok: false,
      message: 'regionInfo.nodeAddress: port "09201" has a leading zero',
    });
  });

  it('accepts a status name only from the enum', () => {
    expect(dkvToHeartbeat(request({ status: 'MASTER' as never }), undefined)).toEqual({
      ok: false,
      message: 'regionInfo.status: unknown RegionStatus "MASTER" (one of INACTIVE, LEADER, PRIMARY_FOLLOWER, SECONDARY_FOLLOWER, ACTIVE_SLAVE)',
    });
  });
});

describe('regionStatusOf', () => {
  it('reports what a DKV node sent, and derives one for nodes registered over HTTP', () => {
    expect(regionStatusOf({ role: 'master', status: 'active', dkv: { regionStatus: 'SECONDARY_FOLLOWER', timestamp: '0', httpAddress: '' } })).toBe('SECONDARY_FOLLOWER');
    expect(regionStatusOf({ role: 'master', status: 'active', dkv: undefined })).toBe('LEADER');
    expect(regionStatusOf({ role: 'master', status: 'draining', dkv: undefined })).toBe('LEADER');
    expect(regionStatusOf({ role: 'replica', status: 'active', dkv: undefined })).toBe('ACTIVE_SLAVE');
    expect(regionStatusOf({ role: 'master', status: 'inactive', dkv: undefined })).toBe('INACTIVE');
  });
});

describe('the DKV .proto', () => {
  it('is found at the package root from src/ and from dist/ alike', () => {
    expect(DKV_PROTO_PATH).toBe(TEST_DKV_PROTO);
    expect(existsSync(DKV_PROTO_PATH)).toBe(true);
    expect(dkvProtoPathFrom('file:///opt/shardvoy/dist/sources/dkv/protos.js')).toBe('/opt/shardvoy/protos/dkv/serverpb/discovery.proto');
    expect(dkvProtoPathFrom('file:///opt/shardvoy/src/sources/dkv/protos.ts')).toBe('/opt/shardvoy/protos/dkv/serverpb/discovery.proto');
  });

  it('declares DKV wire names and numbers exactly', () => {
    const text = readFileSync(DKV_PROTO_PATH, 'utf8').replace(/\/\/.*$/gm, '').replace(/\s+/g, ' ');
    for (const line of [
      'package dkv.serverpb;',
      'rpc UpdateStatus (UpdateStatusRequest) returns (Status);',
      'rpc GetClusterInfo (GetClusterInfoRequest) returns (GetClusterInfoResponse);',
      'message UpdateStatusRequest { RegionInfo regionInfo = 1; uint64 timestamp = 2; }',
      'message GetClusterInfoRequest { optional string dcID = 1; optional string database = 2; optional string vBucket = 3; }',
      'message GetClusterInfoResponse { repeated RegionInfo regionInfos = 1; }',
      'enum RegionStatus { INACTIVE = 0; LEADER = 1; PRIMARY_FOLLOWER = 2; SECONDARY_FOLLOWER = 3; ACTIVE_SLAVE = 4; }',
      'message RegionInfo { string dcID = 1; string nodeAddress = 2; string database = 3; string vBucket = 4; RegionStatus status = 5; optional string masterHost = 6; optional string nexusClusterUrl = 7; string httpAddress = 8; }',
      'message Status { int32 code = 1; string message = 2; }',
    ]) {
      expect(text).toContain(line);
    }
    expect(Object.values(dkvDiscoveryDefinition()).map((m) => m.path).sort()).toEqual([
      '/dkv.serverpb.DKVDiscovery/GetClusterInfo',
      '/dkv.serverpb.DKVDiscovery/UpdateStatus',
    ]);
  });

  it('puts RegionInfo on the wire as DKV does (field numbers and types, byte for byte)', () => {
    const method = dkvDiscoveryDefinition()['UpdateStatus'];
    if (!method) throw new Error('UpdateStatus missing');
    const bytes = method.requestSerialize({ regionInfo: { dcID: 'd', nodeAddress: 'n', database: 'b', vBucket: 'v', status: 'ACTIVE_SLAVE', masterHost: 'm', nexusClusterUrl: 'x', httpAddress: 'h' }, timestamp: '300' });
    // regionInfo (1, length-delimited) { 1:"d" 2:"n" 3:"b" 4:"v" 5:varint 4 6:"m" 7:"x" 8:"h" }, timestamp (2, varint 300)
    expect(Buffer.from(bytes).toString('hex')).toBe('0a170a016412016e1a016222017628043201' + '6d3a0178420168' + '10ac02');
  });
});
