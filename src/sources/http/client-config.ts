/**
 * The DKV client configuration of a group (contract 7.3), in DKV's own `dkvShards` format: per
 * shard, the MASTER and SLAVE topologies a DKV client dials, each at the Envoy listener of its
 * cluster. Clients of a group with `advertisedHost` reach its Envoy at that name; otherwise the
 * Envoy is their sidecar, at 127.0.0.1.
 */
import type { GroupConfig, ShardConfig } from '../../config/types.js';
import { parseClusterName } from '../../topology/cluster-names.js';

/** Where clients reach a group's Envoy when it has no `advertisedHost`: the sidecar on their host. */
export const SIDECAR_HOST = '127.0.0.1';

export interface DkvNode {
  readonly host: string;
  readonly port: number;
}

export interface DkvTopology {
  readonly name: string;
  readonly nodes: readonly DkvNode[];
}

export interface DkvShard {
  readonly name: string;
  readonly topology: { readonly MASTER?: DkvTopology; readonly SLAVE?: DkvTopology };
}

export interface DkvClientConfig {
  readonly dkvShards: readonly DkvShard[];
}

/** The Envoy listener port of `cluster` in `shard`: tcp cluster i on listen port + i, http2 all on the listen port. */
export function clusterListenerPort(shard: ShardConfig, cluster: string): number | undefined {
  const listen = shard.listen;
  const index = shard.clusters.indexOf(cluster);
  if (!listen || index < 0) return undefined;
  return shard.protocol === 'tcp' ? listen.port + index : listen.port;
}

/**
 * One entry per shard in config order. MASTER comes from the `-masters` cluster, SLAVE from the
 * first `-replicas` or `-slaves` cluster (a shard may list both; DKV knows one SLAVE topology); a
 * role the shard has no cluster for is left out. A proxyless group has no listeners: refused.
 */
export function dkvClientConfig(group: GroupConfig): DkvClientConfig {
  if (group.proxyless) throw new Error(`group "${group.name}" is proxyless: it has no Envoy listeners to put in a client config`);
  const host = group.advertisedHost ?? SIDECAR_HOST;
  const dkvShards = group.shards.map((shard): DkvShard => {
    let master: DkvTopology | undefined;
    let slave: DkvTopology | undefined;
    for (const cluster of shard.clusters) {
      const role = parseClusterName(cluster)?.role;
      const port = clusterListenerPort(shard, cluster);
      if (role === undefined || port === undefined) continue;
      const topology: DkvTopology = { name: cluster, nodes: [{ host, port }] };
      if (role === 'master') master ??= topology;
      else slave ??= topology;
    }
    return { name: shard.name, topology: { ...(master ? { MASTER: master } : {}), ...(slave ? { SLAVE: slave } : {}) } };
  });
  return { dkvShards };
}
