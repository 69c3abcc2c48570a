/**
 * 4. Scale: 10,000 nodes, 1,000 shards, 20 groups, in-process in its own child (no network):
 * the cold first rebuild, a full rebuild after a configuration reload, one node's status change
 * until every group has published, and lease renewals that must publish nothing.
 */
import type { Profile } from '../lib/profile.js';
import { atMost, exactly } from '../lib/report.js';
import { fmt, median } from '../lib/stats.js';
import type { ScaleFigures } from '../scale/scale-child.js';
import type { Scenario } from './scenario.js';

const list = (values: readonly number[]) => values.map((v) => fmt(v)).join(', ');

export const scale: Scenario = {
  id: 'scale',
  title: '4. Scale',
  method: (p: Profile) => {
    const s = p.scale;
    return (
      `${fmt(s.shards * s.nodesPerShard)} nodes (per shard 1 master + ${s.nodesPerShard - 1} replicas, DCs alternating), ${fmt(s.shards)} shards, ` +
      `${s.groups} groups (dc1 / dc2 alternating), each group reaching every shard over tcp (2 clusters, 2 listeners, 2 load assignments per ` +
      'shard). MemoryRegistry + SnapshotCache + Watcher from src/, with the Envoy validate-rule check wired as src/main.ts wires it, in a child ' +
      'process of its own. Cold = watcher.start() over the filled registry. Full rebuild = watcher.reconfigure(an equal config). Status change = ' +
      "registry.record(one replica's new status) + watcher.rebuild(), until the last group's cache.watch listener ran (the debounce window is " +
      `not included). Median of ${s.reps} where a list is shown. No-op = every node renews its lease unchanged, then a wait of ` +
      'debounceMs + maxDelayMs + 100 ms.'
    );
  },
  timeoutMs: () => 600_000,
  async run({ profile, log, spawn, section }) {
    const child = await spawn.scale();
    const f = await child.request<ScaleFigures>('run', profile.scale, 540_000);
    const reload = median(f.reloadRebuildMs);
    const status = median(f.statusChangeMs);
    log(`  cold rebuild ${fmt(f.coldRebuildMs)} ms; full rebuild after reload ${fmt(reload)} ms (${list(f.reloadRebuildMs)})`);
    log(`  status change -> all groups published ${fmt(status)} ms (${list(f.statusChangeMs)}); no-op heartbeats published ${f.noopPublishes}`);
    section.tables.push({
      headers: ['figure', 'value', 'each repetition'],
      rows: [
        ['nodes / resources per group', `${fmt(f.nodes)} / ${fmt(f.resourcesPerGroup)}`, ''],
        ['config parse (parseConfig)', `${fmt(f.configParseMs)} ms`, ''],
        ['cold first rebuild (all groups published)', `${fmt(f.coldRebuildMs)} ms`, `${f.coldPublishes} publishes`],
        ['full rebuild after a reload (median)', `${fmt(reload)} ms`, `${list(f.reloadRebuildMs)} ms; ${f.reloadPublishes} publishes`],
        ['one status change -> every group published (median)', `${fmt(status)} ms`, `${list(f.statusChangeMs)} ms; groups published: ${f.statusChangeGroupsPublished.join(', ')}`],
        ['no-op heartbeats: registry notifications / publishes', `${f.noopNotifications} / ${f.noopPublishes}`, `${fmt(f.noopHeartbeats)} renewals`],
        ['registry.record of a no-op heartbeat', `${fmt(f.noopRecordMicros)} µs`, ''],
      ],
    });
    section.verdicts.push(atMost(`one status change among ${fmt(f.nodes)} nodes published in ≤ 5 ms`, status, 5, ' ms'));
    section.verdicts.push(atMost('full rebuild (after a reload) ≤ 250 ms', reload, 250, ' ms'));
    section.verdicts.push(exactly('a no-op heartbeat publishes nothing', f.noopPublishes, 0));
    const partial = f.statusChangeGroupsPublished.filter((n) => n !== profile.scale.groups).length;
    if (partial > 0) section.notes.push(`${partial} status change(s) did not publish to every group: see "groups published".`);
    section.notes.push(
      `The cold first rebuild (${fmt(f.coldRebuildMs)} ms) includes JIT warm-up and validating every resource once; it is shown, not judged.`,
    );
  },
};
