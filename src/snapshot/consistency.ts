/**
 * Checks a snapshot before it is published, as go-control-plane's Snapshot.Consistent does:
 * Envoy keeps a listener or cluster warming forever if what it points at never arrives.
 */
import { CLUSTER, ENDPOINT, LISTENER } from '../envoy-api/type-urls.js';
import type { Snapshot } from './snapshot.js';

export function consistencyErrors(snapshot: Snapshot): string[] {
  const errors: string[] = [];
  const clusters = snapshot.sets[CLUSTER].items;
  const assignments = snapshot.sets[ENDPOINT].items;
  for (const name of clusters.keys()) {
    if (!assignments.has(name)) errors.push(`cluster "${name}" has no load assignment`);
  }
  for (const assignment of assignments.values()) {
    for (const ref of assignment.clusterRefs) {
      if (!clusters.has(ref)) errors.push(`load assignment "${assignment.name}" names unknown cluster "${ref}"`);
    }
  }
  for (const listener of snapshot.sets[LISTENER].items.values()) {
    for (const ref of listener.clusterRefs) {
      if (!clusters.has(ref)) errors.push(`listener "${listener.name}" routes to unknown cluster "${ref}"`);
    }
  }
  return errors;
}
