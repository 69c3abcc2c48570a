/**
 * The etcd store's keys and values, under registry.etcd.prefix P:
 *   P nodes/<id>          the node as last heard (JSON NodeDoc), no lease: it outlives silence
 *                         until the judge forgets it
 *   P alive/<id>          "" on the node's own lease (registry.leaseSeconds): etcd deletes it when
 *                         no instance has renewed the lease for a lease, on etcd's leader's clock
 *   P ports/<group>/<port> the node holding a node-listener port (JSON PortDoc); one key per
 *                         port, so "never one port for two nodes" is a create-only transaction
 *   P election/judge/<lease> every instance's candidacy (etcd3's election recipe, value = its name,
 *                         on its session lease): the oldest is the judge; joins and leaves show here
 *   P resume              an operator's resume-expiry, sent to whichever instance, for the judge
 *   P tick                the judge's periodic write, so a stalled watch has a key to miss
 * Values read back are checked by the state file's rules (state-entries.ts): etcd may be shared,
 * and an entry no heartbeat could have produced must not route.
 */
import { checkNodes, checkPorts, type LoadedNode } from '../state-entries.js';
import type { PortAssignment } from '../ports.js';

export interface NodeDoc {
  readonly node: LoadedNode;
  /** The etcd lease (decimal) holding the node's alive key. */
  readonly lease: string;
  /** Set by the judge when the lease ran out and self-preservation did not keep the node. */
  readonly expired: boolean;
}

export interface PortDoc {
  readonly nodeId: string;
  readonly advertisedHost: string;
  /** The judge's clock when the node was forgotten; the port is held for it until portReuseSeconds after. */
  readonly releasedAtMs: number | undefined;
}

export type ParsedKey =
  | { readonly kind: 'node'; readonly id: string }
  | { readonly kind: 'alive'; readonly id: string }
  | { readonly kind: 'port'; readonly group: string; readonly port: number }
  | { readonly kind: 'instance'; readonly lease: string }
  | { readonly kind: 'resume' }
  | { readonly kind: 'tick' }
  | { readonly kind: 'other' };

export class EtcdKeys {
  constructor(readonly prefix: string) {}

  node(id: string): Buffer {
    return Buffer.from(`${this.prefix}nodes/${id}`);
  }
  alive(id: string): Buffer {
    return Buffer.from(`${this.prefix}alive/${id}`);
  }
  port(group: string, port: number): Buffer {
    return Buffer.from(`${this.prefix}ports/${group}/${port}`);
  }
  get resume(): Buffer {
    return Buffer.from(`${this.prefix}resume`);
  }
  get tick(): Buffer {
    return Buffer.from(`${this.prefix}tick`);
  }
  /** The election's name: etcd3's recipe keeps candidacies under `election/<name>/` of the prefix. */
  get election(): string {
    return 'judge';
  }
  /** [key, range_end] covering every key of this shardvoy cluster. */
  get all(): [Buffer, Buffer] {
    return [Buffer.from(this.prefix), rangeEnd(this.prefix)];
  }

  parse(key: Buffer): ParsedKey {
    const text = key.toString();
    if (!text.startsWith(this.prefix)) return { kind: 'other' };
    const rest = text.slice(this.prefix.length);
    if (rest.startsWith('nodes/')) return { kind: 'node', id: rest.slice('nodes/'.length) };
    if (rest.startsWith('alive/')) return { kind: 'alive', id: rest.slice('alive/'.length) };
    if (rest.startsWith('election/judge/')) return { kind: 'instance', lease: rest.slice('election/judge/'.length) };
    if (rest === 'resume') return { kind: 'resume' };
    if (rest === 'tick') return { kind: 'tick' };
    const port = /^ports\/(.+)\/(\d{1,5})$/.exec(rest);
    if (port) return { kind: 'port', group: port[1]!, port: Number(port[2]) };
    return { kind: 'other' };
  }
}

/** The key just past every key with this prefix (etcd's prefix range). */
function rangeEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  end[end.length - 1]! += 1;
  return end;
}

export function encodeNodeDoc(doc: NodeDoc): Buffer {
  return Buffer.from(JSON.stringify({ node: doc.node, lease: doc.lease, ...(doc.expired ? { expired: true } : {}) }));
}

/** The stored node, or the reason it is not trusted. */
export function decodeNodeDoc(id: string, value: Buffer): NodeDoc | string {
  let raw: unknown;
  try {
    raw = JSON.parse(value.toString());
  } catch {
    return 'not JSON';
  }
  if (typeof raw !== 'object' || raw === null) return 'not an object';
  const { node, lease, expired } = raw as Record<string, unknown>;
  if (typeof lease !== 'string' || !/^\d{1,20}$/.test(lease)) return 'lease: not a lease id';
  if (expired !== undefined && expired !== true) return 'expired: not true';
  const checked = checkNodes([node]);
  if (checked.dropped.length > 0) return checked.dropped[0]!.reason;
  const loaded = checked.nodes[0]!;
  if (loaded.id !== id) return `node.id ${JSON.stringify(loaded.id.slice(0, 64))} is not the key's`;
  return { node: loaded, lease, expired: expired === true };
}

export function encodePortDoc(doc: PortDoc): Buffer {
  return Buffer.from(JSON.stringify(doc));
}

export function decodePortDoc(group: string, port: number, value: Buffer): PortAssignment | string {
  let raw: unknown;
  try {
    raw = JSON.parse(value.toString());
  } catch {
    return 'not JSON';
  }
  const checked = checkPorts([{ ...(raw as object), group, port }]);
  if (checked.dropped.length > 0) return checked.dropped[0]!.reason;
  return checked.ports[0]!;
}
