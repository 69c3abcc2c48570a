/**
 * The floor: the least any grpc-js ADS server can do. Same service definition as shardvoy (so
 * requests are decoded the same way), but responses are bytes encoded once and written as they
 * are. It keeps every stream, answers each stream's first request, ignores ACKs, and on `push`
 * writes one new response (the same bytes to every stream of a protocol).
 *
 * IPC: `push` -> {t0, streams}; `stats` -> ProcessStats; `streams` -> count.
 */
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { aggregatedService } from '../../src/xds/service-definitions.js';
import { deltaResponse, sotwResponse } from '../lib/eds-fixture.js';
import { serveParent } from '../lib/ipc.js';
import { nowAbs, processStatsMonitor, type StatsRequest } from '../lib/process-stats.js';

type Protocol = 'sotw' | 'delta';
type Call = grpc.ServerDuplexStream<unknown, Buffer>;

const stats = processStatsMonitor();
const streams = new Map<Call, Protocol>();
let generation = 1;
const current: Record<Protocol, Buffer> = { sotw: sotwResponse(generation), delta: deltaResponse(generation) };

function passThrough(definition: MethodDefinition<object, object>): MethodDefinition<object, Buffer> {
  return { ...definition, responseSerialize: (bytes: Buffer) => bytes } as unknown as MethodDefinition<object, Buffer>;
}

function keep(call: Call, protocol: Protocol): void {
  let answered = false;
  call.on('data', () => {
    // Only the first request gets a response; later ones are ACKs and need none.
    if (answered) return;
    answered = true;
    streams.set(call, protocol);
    call.write(current[protocol]);
  });
  const drop = () => streams.delete(call);
  call.on('end', () => {
    drop();
    call.end();
  });
  call.on('error', drop);
  call.on('cancelled', drop);
  call.on('close', drop);
}

const ads = aggregatedService();
const service: ServiceDefinition = {
  StreamAggregatedResources: passThrough(ads.StreamAggregatedResources as MethodDefinition<object, object>),
  DeltaAggregatedResources: passThrough(ads.DeltaAggregatedResources as MethodDefinition<object, object>),
};

// The keepalive settings of shardvoy's server, so both hold connections the same way.
const server = new grpc.Server({ 'grpc.keepalive_time_ms': 30_000, 'grpc.keepalive_timeout_ms': 5_000 });
server.addService(service, {
  StreamAggregatedResources: (call: Call) => keep(call, 'sotw'),
  DeltaAggregatedResources: (call: Call) => keep(call, 'delta'),
});

const port = await new Promise<number>((resolve, reject) =>
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
);

serveParent(
  {
    push: () => {
      const t0 = nowAbs();
      generation += 1;
      current.sotw = sotwResponse(generation);
      current.delta = deltaResponse(generation);
      for (const [call, protocol] of streams) call.write(current[protocol]);
      return { t0, streams: streams.size, writtenAt: nowAbs(), bytes: { sotw: current.sotw.length, delta: current.delta.length } };
    },
    stats: (request: StatsRequest) => stats(request),
    streams: () => streams.size,
  },
  { grpc: `127.0.0.1:${port}`, responseBytes: { sotw: current.sotw.length, delta: current.delta.length } },
  () => server.forceShutdown(),
);
