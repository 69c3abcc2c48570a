/**
 * A snapshot is everything one group's Envoys should hold, encoded once and frozen: every stream
 * of the group shares the same bytes. Versions are content hashes, so identical registries give
 * identical versions across restarts and instances.
 */
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
}

export interface ResourceSet {
  /** Hash over the names and versions of every resource in the set. */
  readonly version: string;
  readonly items: ReadonlyMap<string, EncodedResource>;
}

export interface Snapshot {
  readonly group: string;
  readonly version: string;
  readonly sets: Readonly<Record<ResourceTypeUrl, ResourceSet>>;
}

export const ALL_TYPES: readonly ResourceTypeUrl[] = [CLUSTER, ENDPOINT, LISTENER, ROUTE];

export function encodeResource(resource: TranslatedResource): EncodedResource {
  const type = envoyType(messageNameOf(resource.typeUrl));
  const value = type.encode(type.fromObject(resource.message)).finish();
  return Object.freeze({
    typeUrl: resource.typeUrl,
    name: resource.name,
    version: contentHash(value),
    value,
    clusterRefs: Object.freeze([...resource.clusterRefs]),
  });
}

export class DuplicateResourceError extends Error {}

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
  return Object.freeze({
    group,
    version: contentHash(ALL_TYPES.map((type) => sets[type].version).join('.')),
    sets: Object.freeze(sets),
  });
}

export function resourceSet(items: ReadonlyMap<string, EncodedResource>): ResourceSet {
  return Object.freeze({ version: versionOf(items.values()), items });
}

/** The version of any collection of resources: the same members give the same version, in any order. */
export function versionOf(resources: Iterable<EncodedResource>): string {
  const parts = [...resources].map((r) => `${r.name}\u0000${r.version}`).sort();
  return contentHash(parts.join('\n'));
}
