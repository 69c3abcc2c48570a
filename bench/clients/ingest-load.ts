/**
 * Heartbeat load in its own process: autocannon over keep-alive connections, POSTing heartbeats
 * that rotate over `ids` node ids (replicas of shard0 of database `default`, each with its own
 * address, as live nodes renewing their leases). Each run first sends every id once, pauses for
 * the rebuilds those new nodes cause, warms up (discarded), then measures: the measured load is
 * lease renewals only (the steady state), against a JIT-warm server.
 *
 * IPC: run {url, connections, durationSec, warmupSec, ids} -> IngestFigures
 */
import autocannon from 'autocannon';
import { serveParent } from '../lib/ipc.js';

export interface IngestFigures {
  readonly requestsPerSec: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly requests: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
}

interface RunRequest {
  readonly url: string;
  readonly connections: number;
  readonly durationSec: number;
  readonly warmupSec: number;
  readonly ids: number;
}

function bodies(ids: number): string[] {
  return Array.from({ length: ids }, (_, i) =>
    JSON.stringify({ id: `bench-node-${i}`, address: `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}:9000`, database: 'default', shard: 'shard0', role: 'replica' }),
  );
}

/** One autocannon run, for a duration or for an exact number of requests. */
function load(request: RunRequest, length: { duration: number } | { amount: number }): Promise<autocannon.Result> {
  const all = bodies(request.ids);
  let next = 0;
  return autocannon({
    url: request.url,
    connections: request.connections,
    ...length,
    // Requests answered later than this count as timeouts instead of hanging the run.
    timeout: 10,
    requests: [
      {
        method: 'POST',
        path: '/v1/heartbeat',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({ ...req, body: all[next++ % all.length]! }),
      },
    ],
  });
}

async function run(request: RunRequest): Promise<IngestFigures> {
  // Every id once, then a pause for the rebuilds those new nodes trigger: from then on every
  // heartbeat is a lease renewal, the steady state being measured, however slow the warm-up is.
  await load(request, { amount: request.ids });
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  if (request.warmupSec > 0) await load(request, { duration: request.warmupSec });
  const result = await load(request, { duration: request.durationSec });
  return {
    requestsPerSec: result.requests.mean,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

serveParent({ run }, { pid: process.pid });
