/**
 * Which clusters a stream's client is still warming. Envoy warms every cluster a CDS response
 * brings (a new stream's included) until an EDS response for it arrives, and warms the listeners
 * routing to a warming cluster; so each CDS answer is owed a fresh EDS answer, and listeners wait
 * until it has gone out.
 */
import type { ResourceSet } from '../snapshot/snapshot.js';
import type { Subscription } from './subscription.js';

export class WarmingClusters {
  private readonly names = new Set<string>();

  /** A state-of-the-world CDS response: these are all the clusters the client holds now. */
  replacedBy(clusters: Iterable<string>): void {
    this.names.clear();
    for (const name of clusters) this.names.add(name);
  }

  /** A delta CDS response: updated clusters warm, removed ones are gone. */
  changedBy(updated: Iterable<string>, removed: Iterable<string>): void {
    for (const name of updated) this.names.add(name);
    for (const name of removed) this.names.delete(name);
  }

  /** An EDS response answering for these names went out. */
  answered(names: Iterable<string>): void {
    for (const name of names) this.names.delete(name);
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  /** True when the EDS subscription names a warming cluster: an EDS answer is owed even if unchanged. */
  owedTo(subscription: Subscription): boolean {
    for (const name of this.names) if (subscription.names.has(name)) return true;
    return false;
  }

  /**
   * True while some warming cluster has endpoints to be sent. One whose load assignment is gone
   * from the snapshot is on its way out; waiting for it would hold listeners back for good.
   */
  holdsListeners(endpoints: ResourceSet): boolean {
    for (const name of this.names) if (endpoints.items.has(name)) return true;
    return false;
  }
}
