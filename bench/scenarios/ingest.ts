/**
 * 1. Ingest: heartbeats per second and p99 latency over keep-alive HTTP, shardvoy's
 * /v1/heartbeat against a Fastify route that only parses the same body. Both servers run side by
 * side (each its own process, started together); the load (autocannon, its own process) goes to
 * one, then the other.
 */
import type { IngestFigures } from '../clients/ingest-load.js';
import { NETWORK_CONFIG } from '../lib/fixtures.js';
import type { Profile } from '../lib/profile.js';
import { atLeast } from '../lib/report.js';
import { fmt } from '../lib/stats.js';
import type { Scenario } from './scenario.js';

/** Several passes as one: mean rates, mean percentiles, summed counts. */
function combine(passes: readonly IngestFigures[]): IngestFigures {
  const mean = (pick: (f: IngestFigures) => number) => passes.reduce((sum, f) => sum + pick(f), 0) / passes.length;
  const sum = (pick: (f: IngestFigures) => number) => passes.reduce((total, f) => total + pick(f), 0);
  return {
    requestsPerSec: mean((f) => f.requestsPerSec),
    latencyP50Ms: mean((f) => f.latencyP50Ms),
    latencyP99Ms: mean((f) => f.latencyP99Ms),
    requests: sum((f) => f.requests),
    non2xx: sum((f) => f.non2xx),
    errors: sum((f) => f.errors),
    timeouts: sum((f) => f.timeouts),
  };
}

export const ingest: Scenario = {
  id: 'ingest',
  title: '1. Ingest',
  method: (p: Profile) =>
    `autocannon in its own process, ${p.ingest.connections} keep-alive connections, ${p.ingest.passes} pass(es) of ${p.ingest.durationSec} s per ` +
    `server, alternating between the servers, POSTing heartbeats that rotate over ${p.ingest.ids} node ids (replicas of shard0). Before ` +
    `each measured pass every id is sent once (registering the nodes; 1 s pause for the rebuilds that causes)${p.ingest.warmupSec > 0 ? `, then a ${p.ingest.warmupSec} s warm-up before the first pass` : ''}, ` +
    'all discarded: the measured heartbeats are lease renewals only. The floor is a Fastify route that only parses the JSON body and answers {}. ' +
    'Requests/s is autocannon\'s mean of per-second counts and latency its percentiles over every request, each averaged over the passes.',
  timeoutMs: (p) => 120_000 + 4 * p.ingest.passes * (p.ingest.durationSec + p.ingest.warmupSec) * 1000,
  async run({ profile, log, spawn, section }) {
    const [shardvoy, parseOnly, load] = await Promise.all([spawn.shardvoy(NETWORK_CONFIG), spawn.parseOnly(), spawn.ingestLoad()]);
    const run = (url: string, warmupSec: number) =>
      load.request<IngestFigures>(
        'run',
        { url, connections: profile.ingest.connections, durationSec: profile.ingest.durationSec, warmupSec, ids: profile.ingest.ids },
        (profile.ingest.durationSec + warmupSec) * 1000 + 60_000,
      );
    const passes: { floor: IngestFigures[]; ours: IngestFigures[] } = { floor: [], ours: [] };
    // Alternating, so that a noisy stretch of the shared machine does not fall on one server only.
    for (let pass = 0; pass < profile.ingest.passes; pass++) {
      const warmupSec = pass === 0 ? profile.ingest.warmupSec : 0;
      const f = await run(parseOnly.info.http, warmupSec);
      passes.floor.push(f);
      log(`  pass ${pass + 1} parse-only: ${fmt(f.requestsPerSec)} req/s, p99 ${fmt(f.latencyP99Ms)} ms`);
      const o = await run(shardvoy.info.http, warmupSec);
      passes.ours.push(o);
      log(`  pass ${pass + 1} shardvoy:   ${fmt(o.requestsPerSec)} heartbeats/s, p99 ${fmt(o.latencyP99Ms)} ms`);
    }
    const floor = combine(passes.floor);
    const ours = combine(passes.ours);
    const ratio = ours.requestsPerSec / floor.requestsPerSec;
    section.tables.push({
      headers: ['figure', 'shardvoy', 'floor (parse-only)', 'ratio'],
      rows: [
        ['requests/s (mean)', fmt(ours.requestsPerSec), fmt(floor.requestsPerSec), `${fmt(ratio)}×`],
        ['latency p50', `${fmt(ours.latencyP50Ms)} ms`, `${fmt(floor.latencyP50Ms)} ms`, `${fmt(ours.latencyP50Ms / floor.latencyP50Ms)}×`],
        ['latency p99', `${fmt(ours.latencyP99Ms)} ms`, `${fmt(floor.latencyP99Ms)} ms`, `${fmt(ours.latencyP99Ms / floor.latencyP99Ms)}×`],
        ['requests/s of each pass', passes.ours.map((p) => fmt(p.requestsPerSec)).join(', '), passes.floor.map((p) => fmt(p.requestsPerSec)).join(', '), ''],
        ['requests measured', fmt(ours.requests), fmt(floor.requests), ''],
        ['non-2xx / errors / timeouts', `${ours.non2xx} / ${ours.errors} / ${ours.timeouts}`, `${floor.non2xx} / ${floor.errors} / ${floor.timeouts}`, ''],
      ],
    });
    section.verdicts.push(atLeast('ingest ≥ 0.8× the parse-only route (requests/s)', ratio, 0.8, '×')); // issue 16 (issue 7 asked 0.7×)
    if (ours.non2xx + ours.errors + ours.timeouts > 0) section.notes.push('shardvoy answered some heartbeats with an error or not at all: see the non-2xx / errors / timeouts row.');
  },
};
