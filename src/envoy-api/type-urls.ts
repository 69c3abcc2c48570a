/** Type URLs of the xDS resources shardvoy serves, and the message each one carries. */
export const TYPE_URL_PREFIX = 'type.googleapis.com/';

export const LISTENER = 'type.googleapis.com/envoy.config.listener.v3.Listener';
export const CLUSTER = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
export const ENDPOINT = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
export const ROUTE = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';

export type ResourceTypeUrl = typeof LISTENER | typeof CLUSTER | typeof ENDPOINT | typeof ROUTE;

/** Envoy's make-before-break order: clusters, then their endpoints, then listeners, then routes. */
export const PUSH_ORDER: readonly ResourceTypeUrl[] = [CLUSTER, ENDPOINT, LISTENER, ROUTE];

/** LDS and CDS are state-of-the-world: every request gets the full set. EDS and RDS are asked for by name. */
export function isWildcardType(typeUrl: ResourceTypeUrl): boolean {
  return typeUrl === LISTENER || typeUrl === CLUSTER;
}

export function isResourceTypeUrl(value: string): value is ResourceTypeUrl {
  return value === LISTENER || value === CLUSTER || value === ENDPOINT || value === ROUTE;
}

export function messageNameOf(typeUrl: string): string {
  return typeUrl.startsWith(TYPE_URL_PREFIX) ? typeUrl.slice(TYPE_URL_PREFIX.length) : typeUrl;
}

export const SHORT_NAMES: Readonly<Record<ResourceTypeUrl, string>> = {
  [LISTENER]: 'lds',
  [CLUSTER]: 'cds',
  [ENDPOINT]: 'eds',
  [ROUTE]: 'rds',
};
