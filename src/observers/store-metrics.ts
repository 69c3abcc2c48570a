/**
 * Metrics of a shared registry store (registry.store: etcd, contract 14), read at scrape time from
 * what the store says of itself: whether this instance can reach etcd and since when not, how far
 * its copy has read, and whether it is the judge.
 */
import { Gauge, type Registry } from 'prom-client';

export interface StoreStatus {
  /** Since when etcd has been out of reach (ms, server clock); undefined while reachable. */
  readonly unreachableSinceMs: number | undefined;
  /** The etcd revision the local copy is complete up to. */
  readonly revision: number;
  readonly isJudge: boolean;
}

export function registerStoreMetrics(registry: Registry, status: () => StoreStatus, now: () => number): void {
  const registers = [registry];
  new Gauge({
    name: 'shardvoy_registry_store_reachable',
    help: '1 while this instance reads and writes the shared registry store (etcd), 0 while it serves its last snapshot without it (fail-static).',
    registers,
    collect() {
      this.set(status().unreachableSinceMs === undefined ? 1 : 0);
    },
  });
  new Gauge({
    name: 'shardvoy_registry_store_unreachable_seconds',
    help: 'How long the shared registry store has been out of reach (0 while reachable).',
    registers,
    collect() {
      const since = status().unreachableSinceMs;
      this.set(since === undefined ? 0 : Math.max(0, now() - since) / 1000);
    },
  });
  new Gauge({
    name: 'shardvoy_registry_store_revision',
    help: 'The etcd revision this instance has read the registry up to; instances at the same revision route alike.',
    registers,
    collect() {
      this.set(status().revision);
    },
  });
  new Gauge({
    name: 'shardvoy_registry_judge',
    help: '1 on the instance elected to decide expiry, forgetting and self-preservation for all, else 0.',
    registers,
    collect() {
      this.set(status().isJudge ? 1 : 0);
    },
  });
}
