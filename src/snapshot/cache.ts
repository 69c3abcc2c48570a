/**
 * The latest good snapshot per group, and who wants to hear of new ones. The xDS server depends
 * on this and nothing upstream of it, so how snapshots are made can change freely.
 */
import type { Snapshot } from './snapshot.js';

export type SnapshotListener = (snapshot: Snapshot) => void;

export class SnapshotCache {
  private readonly snapshots = new Map<string, Snapshot>();
  private readonly watchers = new Map<string, Set<SnapshotListener>>();

  get(group: string): Snapshot | undefined {
    return this.snapshots.get(group);
  }

  groups(): string[] {
    return [...this.snapshots.keys()];
  }

  /** Stores the snapshot and tells the group's watchers, unless its version is the one already held. */
  publish(snapshot: Snapshot): boolean {
    if (this.snapshots.get(snapshot.group)?.version === snapshot.version) return false;
    this.snapshots.set(snapshot.group, snapshot);
    for (const listener of this.watchers.get(snapshot.group) ?? []) listener(snapshot);
    return true;
  }

  /** Drops a group that is no longer configured. */
  remove(group: string): void {
    this.snapshots.delete(group);
  }

  watch(group: string, listener: SnapshotListener): () => void {
    let set = this.watchers.get(group);
    if (!set) this.watchers.set(group, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }
}
