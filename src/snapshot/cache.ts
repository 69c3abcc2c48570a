/**
 * The latest good snapshot per group, and who wants to hear of new ones. The xDS server depends
 * on this and nothing upstream of it, so how snapshots are made can change freely.
 */
import type { Snapshot } from './snapshot.js';

export type SnapshotListener = (snapshot: Snapshot) => void;

/** Watchers told per turn of the event loop: a push to thousands of streams never stalls it for long. */
export const NOTIFY_BATCH = 256;

export class SnapshotCache {
  private readonly snapshots = new Map<string, Snapshot>();
  private readonly watchers = new Map<string, Set<SnapshotListener>>();

  get(group: string): Snapshot | undefined {
    return this.snapshots.get(group);
  }

  groups(): string[] {
    return [...this.snapshots.keys()];
  }

  /**
   * Stores the snapshot and tells the group's watchers, unless its version is the one already
   * held. The first batch is told at once, the rest a batch per turn of the event loop; a watcher
   * told late reads the newest snapshot then, so a newer publish is never undone.
   */
  publish(snapshot: Snapshot): boolean {
    if (this.snapshots.get(snapshot.group)?.version === snapshot.version) return false;
    this.snapshots.set(snapshot.group, snapshot);
    const listeners = [...(this.watchers.get(snapshot.group) ?? [])];
    const tell = (from: number) => {
      const latest = this.snapshots.get(snapshot.group) ?? snapshot;
      for (const listener of listeners.slice(from, from + NOTIFY_BATCH)) listener(latest);
      if (from + NOTIFY_BATCH < listeners.length) setImmediate(() => tell(from + NOTIFY_BATCH));
    };
    tell(0);
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
