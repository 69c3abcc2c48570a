/**
 * Metrics of a shared registry store (registry.store: etcd, contract 14), read at scrape time from
 * what the store says of itself: whether this instance can reach etcd and since when not, how far
 * its copy has read, and whether it is the judge.
 */
import { Gauge, Histogram, type Registry } from 'prom-client';
import type { EtcdOp, StoreObserver } from '../registry/etcd/etcd-registry.js';

/** One etcd request: 1 ms to 5 s. */
export const ETCD_REQUEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export interface StoreStatus {
  /** Since when etcd has been out of reach (ms, server clock); undefined while reachable. */
  readonly unreachableSinceMs: number | undefined;
  /** The etcd revision the local copy is complete up to. */
  readonly revision: number;
  readonly isJudge: boolean;
}

/** Registers the store's gauges; returns the observer that fills its round-trip histogram. */
export function registerStoreMetrics(registry: Registry, status: () => StoreStatus, now: () => number): StoreObserver {
  const registers = [registry];
  const roundTrips = new Histogram<'op'>({
    name: 'shardvoy_etcd_request_seconds',
    help: 'etcd round trips of the registry store, answered or failed, by op (txn: a change; lease_renew: a heartbeat that changes nothing; lease_grant).',
    labelNames: ['op'],
    buckets: ETCD_REQUEST_BUCKETS,
    registers,
  });
  // Every op's series exists from the start, at zero.
  for (const op of ['txn', 'lease_grant', 'lease_renew'] satisfies EtcdOp[]) roundTrips.zero({ op });
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
  return { roundTrip: (op, seconds) => roundTrips.observe({ op }, seconds) };
}
