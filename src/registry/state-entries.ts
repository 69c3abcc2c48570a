/**
 * Each node and port entry of a loaded state file, checked before it is trusted: a node by the
 * very rules of a heartbeat (HTTP, and DKV's for DKV details) plus sanity of what only the file
 * stores; a port by the id rule and its numbers. The file is shardvoy's own, but it may have
 * been edited or tampered with, and an entry that no heartbeat could have produced (an id that
 * forges /clusters rows, an epoch that fences every master) must not come back through it.
 * Invalid entries are dropped, each with a reason; the valid ones load.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { dkvToHeartbeat } from '../sources/dkv/to-heartbeat.js';
import { checkHeartbeatBody, nodeIdProblem } from '../sources/http/heartbeat-check.js';
import { DKV_REGION_STATUSES, sameRouting, type DkvRegionStatus, type Heartbeat, type Maintenance } from './node.js';
import type { PortAssignment } from './ports.js';

/** An entry left out of the load, and why. `entry` names it: `nodes[3] id "dkv-a1"`. */
export interface DroppedEntry {
  readonly entry: string;
  readonly reason: string;
}

export type LoadedNode = Heartbeat & { readonly firstSeenMs: number; readonly maintenance?: Maintenance | undefined };

/** The longest maintenance reason kept (the HTTP API refuses longer ones). */
export const MAX_MAINTENANCE_REASON = 1024;

const Millis = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Port = Type.Integer({ minimum: 1, maximum: 65535 });

export const StoredDkvDetails = Type.Object(
  {
    regionStatus: Type.Unsafe<DkvRegionStatus>({ type: 'string', enum: [...DKV_REGION_STATUSES] }),
    timestamp: Type.String(),
    httpAddress: Type.String(),
    masterHost: Type.Optional(Type.String()),
    nexusClusterUrl: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

/** The shape of a stored node; the heartbeat's fields are then judged by the heartbeat's rules. */
export const StoredNode = Type.Object(
  {
    id: Type.String(),
    address: Type.String(),
    host: Type.String(),
    port: Port,
    database: Type.String(),
    shard: Type.String(),
    role: Type.String(),
    status: Type.String(),
    dc: Type.Optional(Type.String()),
    epoch: Type.Number(),
    labels: Type.Record(Type.String(), Type.Unknown()),
    dkv: Type.Optional(StoredDkvDetails),
    firstSeenMs: Millis,
    maintenance: Type.Optional(
      Type.Object({ reason: Type.String({ maxLength: MAX_MAINTENANCE_REASON }), sinceMs: Millis }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);
export type StoredNode = Static<typeof StoredNode>;

export const StoredPort = Type.Object(
  { group: Type.String(), nodeId: Type.String(), port: Port, advertisedHost: Type.String(), releasedAtMs: Type.Optional(Millis) },
  { additionalProperties: false },
);
export type StoredPort = Static<typeof StoredPort>;

const ajv = new Ajv({ allErrors: false });
const storedNode = ajv.compile<StoredNode>(StoredNode);
const storedPort = ajv.compile<StoredPort>(StoredPort);

export function checkNodes(entries: readonly unknown[]): { nodes: LoadedNode[]; dropped: DroppedEntry[] } {
  const nodes: LoadedNode[] = [];
  const dropped: DroppedEntry[] = [];
  const seen = new Set<string>();
  entries.forEach((entry, i) => {
    const where = `nodes[${i}]`;
    const result = checkNode(entry, where);
    if (typeof result === 'string') dropped.push({ entry: name(where, entry, 'id'), reason: bounded(result) });
    else if (seen.has(result.id)) dropped.push({ entry: name(where, entry, 'id'), reason: 'an earlier node has the same id' });
    else {
      seen.add(result.id);
      nodes.push(result);
    }
  });
  return { nodes, dropped };
}

export function checkPorts(entries: readonly unknown[]): { ports: PortAssignment[]; dropped: DroppedEntry[] } {
  const ports: PortAssignment[] = [];
  const dropped: DroppedEntry[] = [];
  entries.forEach((entry, i) => {
    const where = `ports[${i}]`;
    const problem = storedPort(entry) ? nodeIdProblem(entry.nodeId, `${where}.nodeId`) : shapeProblem(where, storedPort.errors);
    if (problem !== undefined) dropped.push({ entry: name(where, entry, 'nodeId'), reason: bounded(problem) });
    else {
      const p = entry as StoredPort;
      ports.push({ group: p.group, nodeId: p.nodeId, port: p.port, advertisedHost: p.advertisedHost, releasedAtMs: p.releasedAtMs });
    }
  });
  return { ports, dropped };
}

/** The node, or the reason it cannot be loaded. */
function checkNode(entry: unknown, where: string): LoadedNode | string {
  if (!storedNode(entry)) return shapeProblem(where, storedNode.errors);
  const { host, port, dkv, firstSeenMs, maintenance, ...body } = entry;
  const checked = checkHeartbeatBody(body, where);
  if (!checked.ok) return checked.message;
  const heartbeat = checked.heartbeat;
  const kept = maintenance === undefined ? {} : { maintenance: { reason: maintenance.reason, sinceMs: maintenance.sinceMs } };
  // Envoy is sent host and port, /clusters shows the address: they must be one and the same.
  if (host !== heartbeat.host || port !== heartbeat.port) return `${where}.host, ${where}.port: disagree with ${where}.address`;
  if (!dkv) return { ...heartbeat, firstSeenMs, ...kept };
  // DKV details come from UpdateStatus: they must pass its rules and give this very node.
  const request = {
    regionInfo: {
      dcID: heartbeat.dc ?? '',
      nodeAddress: heartbeat.address,
      database: heartbeat.database,
      vBucket: heartbeat.shard,
      status: dkv.regionStatus,
      httpAddress: dkv.httpAddress,
      masterHost: dkv.masterHost,
      nexusClusterUrl: dkv.nexusClusterUrl,
    },
    timestamp: dkv.timestamp,
  };
  const fromDkv = dkvToHeartbeat(request, { role: heartbeat.role });
  if (!fromDkv.ok) return `${where}.dkv: ${fromDkv.message}`;
  if (fromDkv.heartbeat.id !== heartbeat.id || !sameRouting(fromDkv.heartbeat, heartbeat)) return `${where}.dkv: disagrees with the node's fields`;
  return { ...heartbeat, dkv: fromDkv.heartbeat.dkv, firstSeenMs, ...kept };
}

function shapeProblem(where: string, errors: typeof storedNode.errors): string {
  const first = errors?.[0];
  return `${where}${first?.instancePath.replace(/\//g, '.') ?? ''}: ${first?.message ?? 'is invalid'}`;
}

/** `nodes[3] id "dkv-a1"`: the id as stored, cut to 64 characters and JSON-escaped (it may hold anything). */
function name(where: string, entry: unknown, idField: string): string {
  const id = typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>)[idField] : undefined;
  if (typeof id !== 'string') return where;
  return `${where} ${idField} ${JSON.stringify(id.length > 64 ? `${id.slice(0, 64)}…` : id)}`;
}

/** Reasons may quote stored text; keep each log line short. */
function bounded(reason: string): string {
  return reason.length > 300 ? `${reason.slice(0, 300)}…` : reason;
}
