/** Naming rules of the contract: `<shard>-masters` holds masters, `<shard>-replicas` (alias `-slaves`) replicas. */
import type { Role } from '../registry/node.js';

const SUFFIXES: ReadonlyArray<readonly [string, Role]> = [
  ['-masters', 'master'],
  ['-replicas', 'replica'],
  ['-slaves', 'replica'],
];

/** The role a cluster of `shard` holds, or undefined if the name follows no pattern for that shard. */
export function roleOfCluster(shard: string, cluster: string): Role | undefined {
  for (const [suffix, role] of SUFFIXES) {
    if (cluster === shard + suffix) return role;
  }
  return undefined;
}

/** Splits a cluster name into shard and role, whatever the shard. */
export function parseClusterName(cluster: string): { shard: string; role: Role } | undefined {
  for (const [suffix, role] of SUFFIXES) {
    if (cluster.endsWith(suffix) && cluster.length > suffix.length) {
      return { shard: cluster.slice(0, -suffix.length), role };
    }
  }
  return undefined;
}

export function clusterNameFor(shard: string, role: Role): string {
  return role === 'master' ? `${shard}-masters` : `${shard}-replicas`;
}
