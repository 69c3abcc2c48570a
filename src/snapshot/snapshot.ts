/**
 * A snapshot is everything one group's Envoys should hold, encoded once and frozen: every stream
 * of the group shares the same bytes. Versions are content hashes, so identical registries give
 * identical versions across restarts and instances.
 *
 * A set's version folds the fingerprints (hash of name and version) of its members with XOR, so
 * it does not depend on order and can be updated in O(1) per changed resource; the members are
 * held in a persistent map (immutable.js), so a new snapshot shares all but the changed entries
 * with the last one. A one-node change among 100,000 resources costs the same as among ten.
 */
import { Map as PersistentMap } from 'immutable';
import { createHash } from 'node:crypto';
import { envoyType } from '../envoy-api/protos.js';
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, messageNameOf, type ResourceTypeUrl } from '../envoy-api/type-urls.js';
import type { TranslatedResource } from '../translator/translate.js';
import { contentHash } from './hash.js';

export interface EncodedResource {
  readonly typeUrl: ResourceTypeUrl;
  readonly name: string;
  /** Hash of `value`: the resource's version for delta xDS and for change detection. */
  readonly version: string;
  /** The encoded Envoy message (the `value` of its Any). */
  readonly value: Uint8Array;
  readonly clusterRefs: readonly string[];
  /** 64 bits of hash over name and version, XOR-folded into set versions. */
  readonly fingerprint: Fingerprint;
}

export interface Fingerprint {
  readonly hi: number;
  readonly lo: number;
}

/** The read side of a set's members, by name (an immutable.js Map; a native Map fits too). */
export interface ResourceItems extends Iterable<[string, EncodedResource]> {
  readonly size: number;
  get(name: string): EncodedResource | undefined;
  has(name: string): boolean;
  keys(): IterableIterator<string>;
  values(): IterableIterator<EncodedResource>;
}

export interface ResourceSet {
  /** Folds the names and versions of every resource in the set. */
  readonly version: string;
  readonly fingerprint: Fingerprint;
  readonly items: ResourceItems;
}

export interface Snapshot {
  readonly group: string;
  readonly version: string;
  readonly sets: Readonly<Record<ResourceTypeUrl, ResourceSet>>;
}

export const ALL_TYPES: readonly ResourceTypeUrl[] = [CLUSTER, ENDPOINT, LISTENER, ROUTE];

const ZERO: Fingerprint = Object.freeze({ hi: 0, lo: 0 });

export function fingerprintOf(name: string, version: string): Fingerprint {
  const digest = createHash('sha256').update(name).update('\u0000').update(version).digest();
  return Object.freeze({ hi: digest.readUInt32BE(0), lo: digest.readUInt32BE(4) });
}

function xor(a: Fingerprint, b: Fingerprint): Fingerprint {
  return { hi: (a.hi ^ b.hi) >>> 0, lo: (a.lo ^ b.lo) >>> 0 };
}

function versionString(fp: Fingerprint, count: number): string {
  // The count guards the one weakness of XOR folding: a pair of equal members cancelling out.
  return `${fp.hi.toString(16).padStart(8, '0')}${fp.lo.toString(16).padStart(8, '0')}-${count}`;
}

/** The version of any collection of resources: the same members give the same version, in any order. */
export function versionOf(resources: Iterable<EncodedResource>): string {
  let fp = ZERO;
  let count = 0;
  for (const resource of resources) {
    fp = xor(fp, resource.fingerprint);
    count++;
  }
  return versionString(fp, count);
}

export function withVersion(typeUrl: ResourceTypeUrl, name: string, value: Uint8Array, clusterRefs: readonly string[]): EncodedResource {
  const version = contentHash(value);
  return Object.freeze({ typeUrl, name, version, value, clusterRefs: Object.freeze([...clusterRefs]), fingerprint: fingerprintOf(name, version) });
}

/** Encodes a translated resource; its message is encode-ready (enums as numbers), so no fromObject. */
export function encodeResource(resource: TranslatedResource): EncodedResource {
  const type = envoyType(messageNameOf(resource.typeUrl));
  return withVersion(resource.typeUrl, resource.name, type.encode(resource.message).finish(), resource.clusterRefs);
}

export class DuplicateResourceError extends Error {}

export function resourceSet(members: ReadonlyMap<string, EncodedResource>): ResourceSet {
  let fp = ZERO;
  for (const resource of members.values()) fp = xor(fp, resource.fingerprint);
  return Object.freeze({ version: versionString(fp, members.size), fingerprint: fp, items: PersistentMap(members) });
}

function snapshotOf(group: string, sets: Record<ResourceTypeUrl, ResourceSet>): Snapshot {
  return Object.freeze({
    group,
    version: contentHash(ALL_TYPES.map((type) => sets[type].version).join('.')),
    sets: Object.freeze(sets),
  });
}

export function buildSnapshot(group: string, resources: readonly EncodedResource[]): Snapshot {
  const byType = new Map<ResourceTypeUrl, Map<string, EncodedResource>>(ALL_TYPES.map((type) => [type, new Map()]));
  for (const resource of resources) {
    const items = byType.get(resource.typeUrl)!;
    if (items.has(resource.name)) {
      throw new DuplicateResourceError(`group ${group}: two ${messageNameOf(resource.typeUrl)} resources named "${resource.name}"`);
    }
    items.set(resource.name, resource);
  }
  const sets = {} as Record<ResourceTypeUrl, ResourceSet>;
  for (const [type, items] of byType) sets[type] = resourceSet(items);
  return snapshotOf(group, sets);
}

export interface SnapshotChanges {
  /** Resources to add or replace, by type and name. */
  readonly upserts: readonly EncodedResource[];
  /** Resources to drop. */
  readonly removals: ReadonlyArray<{ readonly typeUrl: ResourceTypeUrl; readonly name: string }>;
}

/**
 * A new snapshot from the previous one and what changed: only the types touched are copied, and
 * their versions are updated by folding the changed fingerprints in and out.
 */
export function updateSnapshot(previous: Snapshot, changes: SnapshotChanges): Snapshot {
  const touched = new Map<ResourceTypeUrl, { items: PersistentMap<string, EncodedResource>; fp: Fingerprint }>();
  const open = (typeUrl: ResourceTypeUrl) => {
    let entry = touched.get(typeUrl);
    if (!entry) {
      const set = previous.sets[typeUrl];
      entry = { items: persistent(set.items).asMutable(), fp: set.fingerprint };
      touched.set(typeUrl, entry);
    }
    return entry;
  };
  for (const { typeUrl, name } of changes.removals) {
    const entry = open(typeUrl);
    const old = entry.items.get(name);
    if (!old) continue;
    entry.items.delete(name);
    entry.fp = xor(entry.fp, old.fingerprint);
  }
  for (const resource of changes.upserts) {
    const entry = open(resource.typeUrl);
    const old = entry.items.get(resource.name);
    if (old === resource) continue;
    if (old) entry.fp = xor(entry.fp, old.fingerprint);
    entry.items.set(resource.name, resource);
    entry.fp = xor(entry.fp, resource.fingerprint);
  }
  if (touched.size === 0) return previous;
  const sets = { ...previous.sets };
  for (const [typeUrl, { items, fp }] of touched) {
    sets[typeUrl] = Object.freeze({ version: versionString(fp, items.size), fingerprint: fp, items: items.asImmutable() });
  }
  return snapshotOf(previous.group, sets);
}

function persistent(items: ResourceItems): PersistentMap<string, EncodedResource> {
  return PersistentMap.isMap(items) ? (items as PersistentMap<string, EncodedResource>) : PersistentMap(items);
}
