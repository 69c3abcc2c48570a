/**
 * Micro benchmark of the validate-rule checker: µs per `validateEncoded` call for the three
 * resources a snapshot build validates most (an EDS ClusterLoadAssignment with 9 endpoints in 2
 * localities, an EDS-over-ADS Cluster, a tcp_proxy Listener), warm, median of several runs.
 *
 *   npx tsx bench/micro/pgv.ts                       # the checker in src/envoy-api/pgv.ts
 *   npx tsx bench/micro/pgv.ts --impl <file>         # another copy of it instead, e.g. a previous version
 *   npx tsx bench/micro/pgv.ts --compare <file>      # both, runs interleaved (fair on a busy machine), and the ratio
 *   npx tsx bench/micro/pgv.ts --floor               # also time protobufjs decoding the top message alone (not its Any payloads)
 *   npx tsx bench/micro/pgv.ts --only eds --runs 15  # some resources (eds, cds, lds), more runs
 *   node --cpu-prof --import tsx bench/micro/pgv.ts --only eds
 *
 * A copy elsewhere must resolve `protobufjs` (e.g. a node_modules symlink next to it) and should
 * import the same protos module (`/work/main/src/envoy-api/protos.ts`), so both share one Root.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { validateEncoded } from '../../src/envoy-api/pgv.js';
import { envoyType } from '../../src/envoy-api/protos.js';
import { messageNameOf } from '../../src/envoy-api/type-urls.js';
import { encodeResource, type EncodedResource } from '../../src/snapshot/snapshot.js';
import type { ClusterIR, EndpointIR, TcpListenerIR } from '../../src/topology/ir.js';
import { translateAssignment, translateCluster, translateListener } from '../../src/translator/translate.js';

type ValidateEncoded = (typeName: string, bytes: Uint8Array) => { path: string; rule: string; message: string }[];

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function load(file: string | undefined): Promise<ValidateEncoded> {
  if (!file) return validateEncoded;
  return ((await import(pathToFileURL(path.resolve(file)).href)) as { validateEncoded: ValidateEncoded }).validateEncoded;
}

const compareWith = arg('--compare');
const only = arg('--only')?.split(',');
const runs = Number(arg('--runs') ?? 9);
const impls: [string, ValidateEncoded][] = [[arg('--impl') ?? 'src/envoy-api/pgv.ts', await load(arg('--impl'))]];
if (compareWith) impls.unshift([compareWith, await load(compareWith)]);
/** A floor: protobufjs decoding the same bytes, which validateEncoded has to do first (Any payloads are decoded on top of this). */
const decodeOnly: ValidateEncoded = (name, bytes) => {
  envoyType(name).decode(bytes);
  return [];
};
if (process.argv.includes('--floor')) impls.push(['decode only (floor)', decodeOnly]);

const endpoint = (i: number, zone: string, priority: number): EndpointIR => ({
  nodeId: `node-${i}`,
  host: `10.0.${priority}.${10 + i}`,
  port: 6379,
  zone,
  priority,
  draining: i === 3,
});

/** One cluster, 9 endpoints in 2 localities (5 in the group's DC, 4 in another at priority 1). */
const cluster: ClusterIR = {
  name: 'shard-0-masters',
  connectTimeoutMs: 1_000,
  upstreamHttp2: false,
  tcpHealthCheck: false,
  endpoints: [...Array.from({ length: 5 }, (_, i) => endpoint(i, 'dc1', 0)), ...Array.from({ length: 4 }, (_, i) => endpoint(5 + i, 'dc2', 1))],
};

const listener: TcpListenerIR = { kind: 'tcp', name: 'shard-0-masters', address: { host: '0.0.0.0', port: 7000 }, cluster: 'shard-0-masters' };

const cases: [string, EncodedResource][] = [
  ['eds', encodeResource(translateAssignment(cluster))],
  ['cds', encodeResource(translateCluster(cluster))],
  ['lds', encodeResource(translateListener(listener))],
];

function timeOnce(validate: ValidateEncoded, resource: EncodedResource, iterations: number): number {
  const name = messageNameOf(resource.typeUrl);
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    if (validate(name, resource.value).length !== 0) throw new Error(`${name} has violations`);
  }
  return Number(process.hrtime.bigint() - start) / 1_000 / iterations;
}

const median = (samples: number[]): number => [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;

console.log(`validateEncoded, µs per call, warm, median of ${runs} runs of ~200 ms`);
for (const [label, resource] of cases) {
  if (only && !only.includes(label)) continue;
  const name = messageNameOf(resource.typeUrl);
  if (compareWith && !isDeepStrictEqual(impls[0]![1](name, resource.value), impls[1]![1](name, resource.value))) {
    throw new Error(`${label}: the implementations disagree`);
  }
  // Warm each up for about 0.5 s, then size its runs to about 200 ms.
  const iterations = impls.map(([, validate]) => {
    const warmEnd = Date.now() + 500;
    while (Date.now() < warmEnd) timeOnce(validate, resource, 20);
    return Math.max(20, Math.round(200_000 / timeOnce(validate, resource, 50)));
  });
  const samples: number[][] = impls.map(() => []);
  for (let run = 0; run < runs; run++) {
    impls.forEach(([, validate], i) => samples[i]!.push(timeOnce(validate, resource, iterations[i]!)));
  }
  const medians = samples.map(median);
  impls.forEach(([implName], i) => {
    const s = samples[i]!;
    console.log(
      `${label} ${name.padEnd(46)} ${medians[i]!.toFixed(2).padStart(8)} µs  (min ${Math.min(...s).toFixed(2)}, max ${Math.max(...s).toFixed(2)}, ` +
        `${iterations[i]} calls/run, ${resource.value.length} bytes)${impls.length > 1 ? `  ${implName}` : ''}`,
    );
  });
  if (compareWith) console.log(`${label} speed-up ${(medians[0]! / medians[1]!).toFixed(1)}x`);
}
