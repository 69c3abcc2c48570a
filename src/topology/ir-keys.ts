/**
 * Content keys of IR items: two items with the same key translate to the same bytes, so the
 * encoder can reuse them. Hand-built strings, because a full rebuild makes tens of thousands.
 */
import type { ClusterIR, ListenerIR } from './ir.js';

/** What a Cluster resource depends on besides its name. */
export function clusterKey(cluster: ClusterIR): string {
  return `${cluster.connectTimeoutMs}|${cluster.upstreamHttp2 ? 1 : 0}|${cluster.tcpHealthCheck ? 1 : 0}`;
}

/** What a ClusterLoadAssignment depends on besides its name: every endpoint, in order. */
export function assignmentKey(cluster: ClusterIR): string {
  let key = '';
  for (const e of cluster.endpoints) key += `${e.priority}|${e.zone ?? ''}|${e.host}|${e.port}|${e.draining ? 1 : 0}|${e.nodeId};`;
  return key;
}

export function listenerKey(listener: ListenerIR): string {
  return JSON.stringify(listener);
}
