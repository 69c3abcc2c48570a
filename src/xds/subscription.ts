/**
 * What a stream asked for of one resource type, following the xDS rules on wildcards:
 * for LDS and CDS an empty first request (legacy) or an explicit "*" means everything;
 * EDS and RDS are always asked for by name.
 */
import { isWildcardType, type ResourceTypeUrl } from '../envoy-api/type-urls.js';
import type { ResourceSet, EncodedResource } from '../snapshot/snapshot.js';

export interface Subscription {
  readonly wildcard: boolean;
  readonly names: ReadonlySet<string>;
}

export function nextSubscription(
  typeUrl: ResourceTypeUrl,
  previous: Subscription | undefined,
  requested: readonly string[],
): Subscription {
  const names = new Set(requested.filter((name) => name !== '*'));
  if (!isWildcardType(typeUrl)) return { wildcard: false, names };
  if (requested.includes('*')) return { wildcard: true, names };
  // Legacy wildcard: an empty list on the first request, and afterwards as long as it stays empty.
  const legacyWildcard = requested.length === 0 && (previous === undefined || previous.wildcard);
  return { wildcard: legacyWildcard, names };
}

export function select(set: ResourceSet, subscription: Subscription): EncodedResource[] {
  if (subscription.wildcard) return [...set.items.values()];
  const selected: EncodedResource[] = [];
  for (const name of subscription.names) {
    const resource = set.items.get(name);
    if (resource) selected.push(resource);
  }
  return selected;
}
