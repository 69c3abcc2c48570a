/**
 * The HTTP/2 stream under a grpc-js server call. grpc-js has no public way to reset a stream or
 * to close its connection, which backpressure and the refusal guard need: its call objects are
 * walked (`call`, then `nextCall` …) to the first that holds the http2 stream. Undefined if the
 * walk finds none (another grpc-js version): callers then fall back to a gRPC status.
 */
import type http2 from 'node:http2';

export function http2StreamOf(call: unknown): http2.ServerHttp2Stream | undefined {
  let inner = (call as { call?: unknown }).call;
  for (let depth = 0; inner && depth < 16; depth++) {
    const stream = (inner as { stream?: http2.ServerHttp2Stream }).stream;
    if (stream && typeof stream.close === 'function') return stream;
    inner = (inner as { nextCall?: unknown }).nextCall;
  }
  return undefined;
}
