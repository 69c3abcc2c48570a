/**
 * Sizes and durations of a run. `full` is what the targets of issue 7 are stated for; `quick` is a
 * smoke run of the same scenarios at smaller sizes; `tiny` is for a test that only checks that
 * every scenario runs end to end.
 */
export type ProfileName = 'full' | 'quick' | 'tiny';

export interface Profile {
  readonly name: ProfileName;
  /** `passes` measured loads per server, alternating between the two servers. */
  readonly ingest: { readonly connections: number; readonly durationSec: number; readonly warmupSec: number; readonly ids: number; readonly passes: number };
  /** Stream counts; each count is measured over `warmupRounds` discarded and `rounds` kept changes. */
  readonly fanout: { readonly counts: readonly number[]; readonly warmupRounds: number; readonly rounds: number };
  readonly memory: { readonly count: number; readonly idleMs: number };
  readonly scale: { readonly groups: number; readonly shards: number; readonly nodesPerShard: number; readonly reps: number };
  /** `repeats` storms in a row per server, on the same streams. */
  readonly storm: { readonly count: number; readonly repeats: number };
  /** Real Envoys of one group, and master changes made one after another. */
  readonly envoys: { readonly count: number; readonly changes: number };
  /**
   * Scenario 7: `nodes` nodes renewing every `intervalSec` (lease `leaseSeconds`) through
   * `instances` shardvoy processes on a 3-member etcd, and through one on the memory store; the
   * load from `loadProcesses` processes; `warmupSec` of renewals discarded, then a window of
   * `durationSec` during which `changes` status changes are made, `changeIntervalMs` apart.
   */
  readonly etcdIngest: {
    readonly nodes: number;
    readonly shards: number;
    readonly intervalSec: number;
    readonly leaseSeconds: number;
    readonly instances: number;
    readonly loadProcesses: number;
    readonly warmupSec: number;
    readonly durationSec: number;
    readonly changes: number;
    readonly changeIntervalMs: number;
  };
  /** Streams opened together before waiting for their first responses (setup, not the storm). */
  readonly waveSize: number;
  /** Client processes the ADS streams are spread over (fan-out, memory, storm). */
  readonly clientProcesses: number;
}

export const PROFILES: Readonly<Record<ProfileName, Profile>> = {
  full: {
    name: 'full',
    ingest: { connections: 50, durationSec: 10, warmupSec: 2, ids: 1_000, passes: 2 },
    fanout: { counts: [1_000, 5_000, 10_000], warmupRounds: 1, rounds: 5 },
    memory: { count: 10_000, idleMs: 2_000 },
    scale: { groups: 20, shards: 1_000, nodesPerShard: 10, reps: 5 },
    storm: { count: 10_000, repeats: 3 },
    envoys: { count: 20, changes: 5 },
    etcdIngest: { nodes: 10_000, shards: 1_000, intervalSec: 3, leaseSeconds: 10, instances: 3, loadProcesses: 2, warmupSec: 6, durationSec: 30, changes: 50, changeIntervalMs: 500 },
    waveSize: 500,
    clientProcesses: 2,
  },
  quick: {
    name: 'quick',
    ingest: { connections: 50, durationSec: 3, warmupSec: 1, ids: 1_000, passes: 1 },
    fanout: { counts: [200, 1_000], warmupRounds: 1, rounds: 2 },
    memory: { count: 1_000, idleMs: 1_000 },
    scale: { groups: 20, shards: 200, nodesPerShard: 10, reps: 3 },
    storm: { count: 1_000, repeats: 2 },
    envoys: { count: 5, changes: 3 },
    etcdIngest: { nodes: 2_000, shards: 200, intervalSec: 3, leaseSeconds: 10, instances: 3, loadProcesses: 2, warmupSec: 3, durationSec: 9, changes: 15, changeIntervalMs: 500 },
    waveSize: 500,
    clientProcesses: 2,
  },
  tiny: {
    name: 'tiny',
    ingest: { connections: 4, durationSec: 1, warmupSec: 0, ids: 20, passes: 1 },
    fanout: { counts: [10], warmupRounds: 0, rounds: 1 },
    memory: { count: 10, idleMs: 100 },
    scale: { groups: 2, shards: 5, nodesPerShard: 3, reps: 1 },
    storm: { count: 10, repeats: 1 },
    envoys: { count: 2, changes: 1 },
    etcdIngest: { nodes: 30, shards: 3, intervalSec: 1, leaseSeconds: 10, instances: 3, loadProcesses: 1, warmupSec: 0, durationSec: 2, changes: 3, changeIntervalMs: 300 },
    waveSize: 10,
    clientProcesses: 1,
  },
};

export function describeProfile(profile: Profile): string {
  const p = profile;
  return (
    `${p.name} (ingest ${p.ingest.connections} connections × ${p.ingest.durationSec} s × ${p.ingest.passes}; fan-out N = ${p.fanout.counts.join(', ')}; ` +
    `memory N = ${p.memory.count}; scale ${p.scale.groups} groups × ${p.scale.shards} shards × ${p.scale.nodesPerShard} nodes; storm N = ${p.storm.count} × ${p.storm.repeats}; ${p.envoys.count} Envoys × ${p.envoys.changes} changes; etcd ingest ${p.etcdIngest.nodes} nodes every ${p.etcdIngest.intervalSec} s × ${p.etcdIngest.durationSec} s; ADS clients over ${p.clientProcesses} process(es))`
  );
}
