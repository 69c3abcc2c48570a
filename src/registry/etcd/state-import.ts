/**
 * `shardvoy state import` (contract 14): a memory store's state file into the etcd store, for
 * moving from one instance to several. The file is judged by the rules that load it at start
 * (state-file.ts parseState, state-entries.ts), and its ports by the configuration's node-listener
 * ranges as PortAllocator.restore judges them; every entry left out is named with its reason.
 *
 * What is written, under the prefix P (keys.ts): per node P nodes/<id> (its document, with a
 * lease granted for it), P alive/<id> on that lease, and the node's ports P ports/<group>/<port>;
 * those go in one transaction, so no node is ever in etcd without its alive key or its ports.
 * Ports of nodes not in the file (held for forgotten nodes) go on their own. Transactions hold at
 * most `maxOps` operations (etcd's --max-txn-ops, 128 by default) and about `maxBytes` bytes
 * (its --max-request-bytes is 1.5 MiB), so a large file takes several; each is create-only (a key
 * is written only if it does not exist yet, or a port key only if it is still as it was read),
 * so an import cut off half-way is finished by running it again with `merge`: what is there is
 * kept and named, never written twice, never overwritten.
 *
 * Every node gets a fresh lease of registry.leaseSeconds, so it routes at once, like a node
 * loaded from the state file at start, and the judge expires it if it never heartbeats.
 */
import { GRPCDeadlineExceededError, GRPCUnavailableError, type Etcd3, type ICompare, type IRequestOp } from 'etcd3';
import { PortAllocator, type PortAssignment, type PortPool } from '../ports.js';
import type { RegistryState } from '../registry.js';
import type { DroppedEntry, LoadedNode } from '../state-entries.js';
import { EtcdKeys, decodePortDoc, encodeNodeDoc, encodePortDoc } from './keys.js';

/** etcd's default --max-txn-ops. */
export const ETCD_MAX_TXN_OPS = 128;
/** Well under etcd's default --max-request-bytes (1.5 MiB). */
export const ETCD_MAX_TXN_BYTES = 1024 * 1024;

/** What etcd holds under the prefix before the import. */
export interface ExistingEntries {
  readonly nodes: ReadonlySet<string>;
  /** `<group>/<port>` -> the key's holder (undefined if its value is not a valid port document) and mod revision. */
  readonly ports: ReadonlyMap<string, { readonly assignment: PortAssignment | undefined; readonly modRevision: number }>;
}

export interface PlannedPort {
  readonly assignment: PortAssignment;
  /** The key's mod revision as read when it exists (a held port taken over), else undefined: create-only. */
  readonly modRevision: number | undefined;
}

/** Written whole, in one transaction: a node with its ports, or a port of no node in the file. */
export interface ImportUnit {
  readonly node: LoadedNode | undefined;
  readonly ports: readonly PlannedPort[];
}

export interface ImportPlan {
  readonly units: readonly ImportUnit[];
  /** File entries left out: invalid, or refused by the configuration's port ranges. */
  readonly dropped: readonly DroppedEntry[];
  /** File entries left as etcd already holds them (with merge). */
  readonly existing: readonly DroppedEntry[];
}

const portKey = (group: string, port: number) => `${group}/${port}`;
const quoted = (text: string) => JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);

function sameAssignment(a: PortAssignment | undefined, b: PortAssignment): boolean {
  return a !== undefined && a.nodeId === b.nodeId && a.advertisedHost === b.advertisedHost && a.releasedAtMs === b.releasedAtMs;
}

/**
 * What to write, as the memory store would load the file on top of what etcd holds: nodes
 * already in etcd are kept as they are (and so are their ports); the file's ports are restored
 * after etcd's (so a port etcd gives another node is refused, naming it); then every new node
 * without a port in a group of its database gets the lowest free one, as at start.
 */
export function planImport(
  file: { readonly state: RegistryState; readonly dropped: readonly DroppedEntry[] },
  existing: ExistingEntries,
  options: { readonly portPools: readonly PortPool[]; readonly portReuseSeconds: number; readonly nowMs: number },
): ImportPlan {
  const dropped: DroppedEntry[] = [...file.dropped];
  const kept: DroppedEntry[] = [];
  const nodes: LoadedNode[] = [];
  for (const node of file.state.nodes) {
    if (existing.nodes.has(node.id)) kept.push({ entry: `node ${quoted(node.id)}`, reason: 'already in etcd; kept as it is there' });
    else nodes.push(node as LoadedNode);
  }
  const newIds = new Set(nodes.map((n) => n.id));

  const allocator = new PortAllocator(options.portPools, options.portReuseSeconds * 1000);
  const etcdPorts = [...existing.ports.values()].flatMap((p) => (p.assignment ? [p.assignment] : []));
  allocator.restore(etcdPorts);
  const filePorts: PortAssignment[] = [];
  for (const port of file.state.ports) {
    const entry = `port of node ${quoted(port.nodeId)} in group ${quoted(port.group)}`;
    const there = existing.ports.get(portKey(port.group, port.port));
    if (existing.nodes.has(port.nodeId)) kept.push({ entry, reason: 'its node is already in etcd; its ports there stay' });
    else if (there?.assignment?.nodeId === port.nodeId) kept.push({ entry, reason: `port ${port.port} already in etcd` });
    else filePorts.push(port);
  }
  dropped.push(...allocator.restore(filePorts));
  for (const node of nodes) allocator.assign(node.id, node.database, options.nowMs);

  const byNode = new Map<string, PlannedPort[]>();
  const loose: PlannedPort[] = [];
  for (const assignment of allocator.all()) {
    const there = existing.ports.get(portKey(assignment.group, assignment.port));
    if (sameAssignment(there?.assignment, assignment)) continue;
    const holder = there?.assignment;
    if (there && holder && holder.nodeId !== assignment.nodeId && holder.releasedAtMs === undefined) {
      // A key the allocator did not take from etcd (outside today's ranges, say): never overwritten.
      dropped.push({ entry: `port of node ${quoted(assignment.nodeId)} in group ${quoted(assignment.group)}`, reason: `port ${assignment.port} is held in etcd by node ${quoted(holder.nodeId)}` });
      continue;
    }
    const planned = { assignment, modRevision: there?.modRevision };
    if (newIds.has(assignment.nodeId)) byNode.set(assignment.nodeId, [...(byNode.get(assignment.nodeId) ?? []), planned]);
    else loose.push(planned);
  }
  const units: ImportUnit[] = [
    ...nodes.map((node) => ({ node, ports: byNode.get(node.id) ?? [] })),
    ...loose.map((port) => ({ node: undefined, ports: [port] })),
  ];
  return { units, dropped, existing: kept };
}

/** Operations a unit takes: node and alive keys, one per port. */
export function unitOps(unit: ImportUnit): number {
  return (unit.node ? 2 : 0) + unit.ports.length;
}

/** About the bytes a unit adds to a transaction request. */
function unitBytes(unit: ImportUnit, keys: EtcdKeys): number {
  const node = unit.node ? encodeNodeDoc({ node: unit.node, lease: '0', expired: false }).length + 2 * keys.node(unit.node.id).length + 64 : 0;
  return node + unit.ports.reduce((sum, p) => sum + 2 * keys.port(p.assignment.group, p.assignment.port).length + 160 + p.assignment.advertisedHost.length, 0);
}

/** Units into transactions of at most maxOps operations and about maxBytes bytes, in order; a unit is never split. */
export function batchUnits(units: readonly ImportUnit[], keys: EtcdKeys, maxOps = ETCD_MAX_TXN_OPS, maxBytes = ETCD_MAX_TXN_BYTES): ImportUnit[][] {
  const batches: ImportUnit[][] = [];
  let current: ImportUnit[] = [];
  let ops = 0;
  let bytes = 0;
  for (const unit of units) {
    const o = unitOps(unit);
    const b = unitBytes(unit, keys);
    if (current.length > 0 && (ops + o > maxOps || bytes + b > maxBytes)) {
      batches.push(current);
      current = [];
      ops = 0;
      bytes = 0;
    }
    current.push(unit);
    ops += o;
    bytes += b;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

// ---- against etcd ----

/** etcd could not be read, or refused the import: nothing was written. */
export class ImportRefusedError extends Error {}

/** The import stopped part-way: whole entries are written, the rest is not; `--merge` finishes it. */
export class ImportFailedError extends Error {
  constructor(
    message: string,
    readonly written: { readonly nodes: number; readonly ports: number; readonly transactions: number },
  ) {
    super(message);
  }
}

export interface ImportOptions {
  readonly client: Etcd3;
  readonly prefix: string;
  readonly leaseSeconds: number;
  readonly portPools: readonly PortPool[];
  readonly portReuseSeconds: number;
  /** Add to a prefix that already holds nodes; entries already there are kept and named. */
  readonly merge: boolean;
  /** Plan, report, write nothing. */
  readonly dryRun: boolean;
  readonly nowMs: number;
  /** Names etcd in messages: its endpoints. */
  readonly where: string;
  readonly maxOps?: number;
  readonly maxBytes?: number;
  /** Each etcd call's deadline. */
  readonly timeoutMs?: number;
}

export interface ImportReport {
  readonly nodes: number;
  readonly ports: number;
  readonly transactions: number;
  readonly dropped: readonly DroppedEntry[];
  readonly existing: readonly DroppedEntry[];
  /** The lease every imported node got, seconds. */
  readonly leaseSeconds: number;
}

/** Attempts of one transaction when running instances create some of its keys meanwhile. */
const MAX_ATTEMPTS = 4;

export async function importState(file: { readonly state: RegistryState; readonly dropped: readonly DroppedEntry[] }, options: ImportOptions): Promise<ImportReport> {
  const keys = new EtcdKeys(options.prefix);
  const timeoutMs = options.timeoutMs ?? 5000;
  const deadline = () => ({ deadline: new Date(Date.now() + timeoutMs) });
  const ttl = Math.max(1, Math.ceil(options.leaseSeconds));
  const { client } = options;

  let existing: ExistingEntries;
  try {
    existing = await readExisting(client, keys, deadline);
  } catch (error) {
    // Out of reach, or there and refusing (a wrong password, a user without access to the prefix).
    const what = error instanceof GRPCUnavailableError || error instanceof GRPCDeadlineExceededError ? 'unreachable' : `refused to read ${options.prefix}`;
    throw new ImportRefusedError(`etcd (${options.where}) ${what}: ${(error as Error).message}; nothing was written`);
  }
  if (!options.merge && (existing.nodes.size > 0 || existing.ports.size > 0)) {
    throw new ImportRefusedError(
      `etcd (${options.where}) already holds a registry under ${options.prefix}: ${existing.nodes.size} nodes and ${existing.ports.size} ports; ` +
        'nothing was written. Use another registry.etcd.prefix, or --merge to add the entries it does not hold (those it holds are kept and named)',
    );
  }

  const plan = planImport(file, existing, options);
  const dropped = [...plan.dropped];
  const kept = [...plan.existing];
  const written = { nodes: 0, ports: 0, transactions: 0 };
  const batches = batchUnits(plan.units, keys, options.maxOps, options.maxBytes);
  if (options.dryRun) {
    for (const unit of plan.units) {
      if (unit.node) written.nodes++;
      written.ports += unit.ports.length;
    }
    return { ...written, transactions: batches.length, dropped, existing: kept, leaseSeconds: ttl };
  }

  for (const [index, batch] of batches.entries()) {
    let units = batch;
    for (let attempt = 0; units.length > 0; attempt++) {
      if (attempt === MAX_ATTEMPTS) {
        throw new ImportFailedError(`etcd kept changing under ${options.prefix} while importing (shardvoy instances writing?); ${progress(written)}`, written);
      }
      let outcome: BatchOutcome;
      try {
        outcome = await writeBatch(client, keys, units, ttl, deadline);
      } catch (error) {
        throw new ImportFailedError(
          `etcd (${options.where}) failed in transaction ${index + 1} of ${batches.length}: ${(error as Error).message}; ${progress(written)}; that transaction was written whole or not at all`,
          written,
        );
      }
      if (outcome.kind === 'applied') {
        written.transactions++;
        for (const unit of units) {
          if (unit.node) written.nodes++;
          written.ports += unit.ports.length;
        }
        break;
      }
      kept.push(...outcome.existing);
      dropped.push(...outcome.dropped);
      units = outcome.retry;
    }
  }
  return { ...written, dropped, existing: kept, leaseSeconds: ttl };

  function progress(w: { nodes: number; ports: number; transactions: number }): string {
    return (
      `written before: ${w.nodes} nodes and ${w.ports} ports in ${w.transactions} transactions, each whole. ` +
      'Run the same command with --merge to write the rest: what is already in etcd is kept and named, never written twice'
    );
  }
}

async function readExisting(client: Etcd3, keys: EtcdKeys, deadline: () => { deadline: Date }): Promise<ExistingEntries> {
  const [from, to] = keys.all;
  const response = await client.kv.range({ key: from, range_end: to }, deadline());
  const nodes = new Set<string>();
  const ports = new Map<string, { assignment: PortAssignment | undefined; modRevision: number }>();
  for (const kv of response.kvs) {
    const key = keys.parse(kv.key);
    if (key.kind === 'node') nodes.add(key.id);
    else if (key.kind === 'port') {
      const decoded = decodePortDoc(key.group, key.port, kv.value);
      ports.set(portKey(key.group, key.port), { assignment: typeof decoded === 'string' ? undefined : decoded, modRevision: Number(kv.mod_revision) });
    }
  }
  return { nodes, ports };
}

type BatchOutcome =
  | { kind: 'applied' }
  | { kind: 'conflict'; existing: DroppedEntry[]; dropped: DroppedEntry[]; retry: ImportUnit[] };

/**
 * One create-only transaction. Refused because a key exists now that did not when read (an
 * instance heard from that node meanwhile): those entries are named and the rest tried again,
 * with fresh leases. A refusal that follows a lost answer to a retried call (etcd3 retries) is
 * told apart by reading back: every document of the batch carrying this batch's leases means it
 * was written.
 */
async function writeBatch(client: Etcd3, keys: EtcdKeys, units: readonly ImportUnit[], ttl: number, deadline: () => { deadline: Date }): Promise<BatchOutcome> {
  const leases = new Map<string, string>();
  await Promise.all(
    units.map(async (unit) => {
      if (!unit.node) return;
      const granted = await client.leaseClient.leaseGrant({ TTL: ttl }, deadline());
      leases.set(unit.node.id, String(granted.ID));
    }),
  );
  const compare: ICompare[] = [];
  const success: IRequestOp[] = [];
  for (const unit of units) {
    if (unit.node) {
      const lease = leases.get(unit.node.id)!;
      compare.push({ key: keys.node(unit.node.id), target: 'Create', result: 'Equal', create_revision: 0 });
      success.push({ request_put: { key: keys.node(unit.node.id), value: encodeNodeDoc({ node: unit.node, lease, expired: false }) } });
      // The node's alive key is its own: no compare (a stale one without its node is overwritten).
      success.push({ request_put: { key: keys.alive(unit.node.id), value: Buffer.alloc(0), lease } });
    }
    for (const { assignment, modRevision } of unit.ports) {
      const key = keys.port(assignment.group, assignment.port);
      compare.push(modRevision === undefined ? { key, target: 'Create', result: 'Equal', create_revision: 0 } : { key, target: 'Mod', result: 'Equal', mod_revision: modRevision });
      success.push({ request_put: { key, value: portValue(assignment) } });
    }
  }
  const response = await client.kv.txn({ compare, success, failure: [] }, deadline());
  if (response.succeeded) return { kind: 'applied' };

  // Refused: which keys are there now, and are they this batch's own?
  const now = await Promise.all(
    units.map(async (unit) => ({
      node: unit.node ? (await client.kv.range({ key: keys.node(unit.node.id) }, deadline())).kvs[0] : undefined,
      ports: await Promise.all(unit.ports.map(async (p) => (await client.kv.range({ key: keys.port(p.assignment.group, p.assignment.port) }, deadline())).kvs[0])),
    })),
  );
  const ours = units.every((unit, i) => {
    const node = now[i]!.node;
    if (unit.node && (!node || leaseOf(node.value) !== leases.get(unit.node.id))) return false;
    return unit.ports.every((p, j) => now[i]!.ports[j]?.value.equals(portValue(p.assignment)) === true);
  });
  if (ours) return { kind: 'applied' };
  for (const lease of leases.values()) client.leaseClient.leaseRevoke({ ID: lease }, deadline()).catch(() => undefined);

  const existing: DroppedEntry[] = [];
  const dropped: DroppedEntry[] = [];
  const retry: ImportUnit[] = [];
  units.forEach((unit, i) => {
    if (unit.node && now[i]!.node) {
      existing.push({ entry: `node ${quoted(unit.node.id)}`, reason: 'written to etcd by another while importing; kept as it is there' });
      return;
    }
    const ports = unit.ports.filter((p, j) => {
      const there = now[i]!.ports[j];
      const unchanged = p.modRevision === undefined ? there === undefined : there !== undefined && Number(there.mod_revision) === p.modRevision;
      if (!unchanged) {
        const holder = there ? decodePortDoc(p.assignment.group, p.assignment.port, there.value) : undefined;
        const by = holder && typeof holder !== 'string' ? ` by node ${quoted(holder.nodeId)}` : '';
        dropped.push({ entry: `port of node ${quoted(p.assignment.nodeId)} in group ${quoted(p.assignment.group)}`, reason: `port ${p.assignment.port} was taken in etcd${by} while importing` });
      }
      return unchanged;
    });
    if (unit.node || ports.length > 0) retry.push({ node: unit.node, ports });
  });
  return { kind: 'conflict', existing, dropped, retry };
}

function portValue(a: PortAssignment): Buffer {
  return encodePortDoc({ nodeId: a.nodeId, advertisedHost: a.advertisedHost, releasedAtMs: a.releasedAtMs });
}

function leaseOf(value: Buffer): string | undefined {
  try {
    const lease = (JSON.parse(value.toString()) as { lease?: unknown }).lease;
    return typeof lease === 'string' ? lease : undefined;
  } catch {
    return undefined;
  }
}
