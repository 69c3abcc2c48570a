/**
 * Snapshots built straight from a small topology description, for tests of the xDS server that
 * need CDS and LDS to change (in production only configuration changes do that).
 */
import { buildSnapshot, encodeResource, type Snapshot } from '../../src/snapshot/snapshot.js';
import type { GroupTopology } from '../../src/topology/ir.js';
import { translateGroup } from '../../src/translator/translate.js';

export interface TopologySpec {
  /** cluster name -> endpoint addresses ("10.0.0.1:9000") */
  readonly clusters: Readonly<Record<string, readonly string[]>>;
  /** listener name -> [port, cluster] */
  readonly listeners: Readonly<Record<string, readonly [number, string]>>;
  /** per-cluster connect timeout, to change a cluster without touching its endpoints */
  readonly timeouts?: Readonly<Record<string, number>>;
}

export function snapshotOf(group: string, spec: TopologySpec): Snapshot {
  const topology: GroupTopology = {
    group,
    clusters: Object.entries(spec.clusters).map(([name, addresses]) => ({
      name,
      connectTimeoutMs: spec.timeouts?.[name] ?? 5_000,
      upstreamHttp2: false,
      tcpHealthCheck: false,
      endpoints: addresses.map((address, i) => ({
        nodeId: `${name}-${i}`,
        host: address.split(':')[0]!,
        port: Number(address.split(':')[1]),
        zone: 'dc1',
        priority: 0,
        draining: false,
      })),
    })),
    listeners: Object.entries(spec.listeners).map(([name, [port, cluster]]) => ({ kind: 'tcp', name, address: { host: '0.0.0.0', port }, cluster })),
  };
  return buildSnapshot(group, translateGroup(topology).map(encodeResource));
}
