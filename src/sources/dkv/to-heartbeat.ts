/**
 * DKV's UpdateStatusRequest -> a validated Heartbeat (contract section 7.1), with the same rules
 * as `POST /v1/heartbeat` (section 4.1): id = address = nodeAddress, shard = vBucket, dc = dcID.
 * Pure: a request that fails any rule yields one message "<field>: <reason>" and touches nothing.
 */
import { DKV_REGION_STATUSES, type DkvDetails, type DkvRegionStatus, type Heartbeat, type NodeRecord, type Role } from '../../registry/node.js';
import { parseHostPort } from '../../util/host-port.js';
import type { UpdateStatusRequestMessage } from './protos.js';

export type DkvHeartbeatResult = { ok: true; heartbeat: Heartbeat } | { ok: false; message: string };

const ID = /^[A-Za-z0-9._:@-]{1,128}$/;
const NAME = /^[A-Za-z0-9._-]{1,64}$/;
const NAME_RULE = 'must be 1..64 characters of [A-Za-z0-9._-]';
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
/** httpAddress, masterHost, nexusClusterUrl: DKV gives them no format; shardvoy only stores and returns them. */
const FREE_TEXT_MAX = 256;
const UINT64_DECIMAL = /^[0-9]{1,20}$/;

/** The role a RegionStatus maps to; INACTIVE keeps the node's known role (none known: replica). */
export function roleOf(status: DkvRegionStatus, previous: Role | undefined): Role {
  switch (status) {
    case 'LEADER':
    case 'PRIMARY_FOLLOWER':
    case 'SECONDARY_FOLLOWER':
      return 'master';
    case 'ACTIVE_SLAVE':
      return 'replica';
    case 'INACTIVE':
      return previous ?? 'replica';
  }
}

/** The RegionStatus to report for a node: what it last sent over DKV, else derived from role and status. */
export function regionStatusOf(node: Pick<NodeRecord, 'role' | 'status' | 'dkv'>): DkvRegionStatus {
  if (node.dkv) return node.dkv.regionStatus;
  if (node.status === 'inactive') return 'INACTIVE';
  return node.role === 'master' ? 'LEADER' : 'ACTIVE_SLAVE';
}

class Invalid extends Error {}

function fail(field: string, reason: string): never {
  throw new Invalid(`${field}: ${reason}`);
}

function text(value: unknown, field: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') fail(field, 'must be a string');
  return value;
}

function name(value: unknown, field: string, required: boolean): string | undefined {
  const s = text(value, field);
  if (s === '') {
    if (required) fail(field, `is required (${NAME_RULE.replace('must be ', '')})`);
    return undefined;
  }
  if (!NAME.test(s)) fail(field, `${NAME_RULE}, got ${JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s)}`);
  return s;
}

function freeText(value: unknown, field: string): string {
  const s = text(value, field);
  if (s.length > FREE_TEXT_MAX) fail(field, `must be at most ${FREE_TEXT_MAX} characters`);
  if (CONTROL_CHARS.test(s)) fail(field, 'must not contain control characters');
  return s;
}

function regionStatus(value: unknown): DkvRegionStatus {
  if (typeof value === 'string' && (DKV_REGION_STATUSES as readonly string[]).includes(value)) return value as DkvRegionStatus;
  return fail('regionInfo.status', `unknown RegionStatus ${JSON.stringify(value)} (one of ${DKV_REGION_STATUSES.join(', ')})`);
}

/**
 * Validates a decoded UpdateStatusRequest. `previous` is the registry's record for the same
 * nodeAddress, if any: an INACTIVE node keeps its role, so going inactive moves nothing.
 */
export function dkvToHeartbeat(request: UpdateStatusRequestMessage, previous: Pick<NodeRecord, 'role'> | undefined): DkvHeartbeatResult {
  try {
    return { ok: true, heartbeat: convert(request, previous) };
  } catch (error) {
    if (error instanceof Invalid) return { ok: false, message: error.message };
    throw error;
  }
}

/** The id a request would be recorded under, if its nodeAddress is usable as one (to find `previous`). */
export function nodeIdOf(request: UpdateStatusRequestMessage): string | undefined {
  const address = request.regionInfo?.nodeAddress;
  return typeof address === 'string' && ID.test(address) ? address : undefined;
}

function convert(request: UpdateStatusRequestMessage, previous: Pick<NodeRecord, 'role'> | undefined): Heartbeat {
  const info = request.regionInfo;
  if (info === null || info === undefined || typeof info !== 'object') fail('regionInfo', 'is required');

  const address = text(info.nodeAddress, 'regionInfo.nodeAddress');
  if (address === '') fail('regionInfo.nodeAddress', 'is required (host:port)');
  if (address.length > 128) fail('regionInfo.nodeAddress', `must be at most 128 characters (it is the node's id), got ${address.length}`);
  const parsed = parseHostPort(address);
  if (!parsed.ok) fail('regionInfo.nodeAddress', parsed.reason);
  if (!ID.test(address)) fail('regionInfo.nodeAddress', "must be 1..128 characters of [A-Za-z0-9._:@-] (it is the node's id)");

  const database = name(info.database, 'regionInfo.database', true) as string;
  const shard = name(info.vBucket, 'regionInfo.vBucket', true) as string;
  const dc = name(info.dcID, 'regionInfo.dcID', false);
  const status = regionStatus(info.status);
  const httpAddress = freeText(info.httpAddress, 'regionInfo.httpAddress');
  const masterHost = freeText(info.masterHost, 'regionInfo.masterHost');
  const nexusClusterUrl = freeText(info.nexusClusterUrl, 'regionInfo.nexusClusterUrl');

  const timestamp = request.timestamp === undefined || request.timestamp === null ? '0' : String(request.timestamp);
  if (!UINT64_DECIMAL.test(timestamp)) fail('timestamp', 'must be a uint64');

  const dkv: DkvDetails = {
    regionStatus: status,
    timestamp,
    httpAddress,
    // proto3 `optional`: an empty string says nothing more than an absent field.
    ...(masterHost === '' ? {} : { masterHost }),
    ...(nexusClusterUrl === '' ? {} : { nexusClusterUrl }),
  };
  return {
    id: address,
    address,
    host: parsed.value.host,
    port: parsed.value.port,
    database,
    shard,
    role: roleOf(status, previous?.role),
    status: status === 'INACTIVE' ? 'inactive' : 'active',
    dc,
    // DKV has no leadership term on the wire: its nodes are never fenced by epoch.
    epoch: 0,
    labels: {},
    dkv,
  };
}
