/**
 * Clients that misbehave on purpose (issue 11), on plain HTTP/2 so they can do what a gRPC
 * library would not: never read (the stream is paused, so no flow-control window is granted and
 * the server's writes stay unsent), send requests far over the limits, and count the gRPC
 * messages that arrive once they do read.
 */
import http2 from 'node:http2';
import { envoyType } from '../../src/envoy-api/protos.js';

const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService';
export const SOTW_PATH = `${ADS}/StreamAggregatedResources`;
export const DELTA_PATH = `${ADS}/DeltaAggregatedResources`;
export const CSDS_PATH = '/envoy.service.status.v3.ClientStatusDiscoveryService/StreamClientStatus';

const TYPES: Record<string, string> = {
  [SOTW_PATH]: 'envoy.service.discovery.v3.DiscoveryRequest',
  [DELTA_PATH]: 'envoy.service.discovery.v3.DeltaDiscoveryRequest',
  [CSDS_PATH]: 'envoy.service.status.v3.ClientStatusRequest',
};

/** A gRPC length-prefixed frame of a request object encoded with the Envoy protos. */
export function frame(path: string, request: object): Buffer {
  const type = envoyType(TYPES[path]!);
  const body = type.encode(type.fromObject(request)).finish();
  const out = Buffer.alloc(5 + body.length);
  out.writeUInt32BE(body.length, 1);
  out.set(body, 5);
  return out;
}

export interface RawCallStatus {
  readonly grpcStatus: number | undefined;
  readonly grpcMessage: string | undefined;
  readonly rstCode: number | undefined;
}

/** One streaming call on its own HTTP/2 connection; paused (reading nothing) unless told otherwise. */
export class RawCall {
  readonly session: http2.ClientHttp2Session;
  readonly stream: http2.ClientHttp2Stream;
  /** gRPC messages received once reading. */
  messages = 0;
  bytes = 0;
  private pending = Buffer.alloc(0);
  private trailers: http2.IncomingHttpHeaders | undefined;
  readonly closed: Promise<RawCallStatus>;

  constructor(
    address: string,
    path: string,
    options: { read?: boolean; headers?: Record<string, string>; session?: http2.ClientHttp2Session; localAddress?: string } = {},
  ) {
    // Another loopback address (127.0.1.x) is another peer to the server.
    this.session = options.session ?? (options.localAddress ? http2.connect(`http://${address}`, { localAddress: options.localAddress } as http2.SecureClientSessionOptions) : http2.connect(`http://${address}`));
    this.session.on('error', () => undefined);
    this.stream = this.session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...options.headers });
    this.stream.on('error', () => undefined);
    this.stream.prependListener('response', (headers) => {
      if (headers['grpc-status'] !== undefined) this.trailers = headers;
    });
    this.stream.prependListener('trailers', (headers) => (this.trailers = headers));
    this.stream.on('data', (chunk: Buffer) => this.onData(chunk));
    // Ended by the server's status (trailers) or by a reset, whichever comes first.
    this.closed = new Promise((resolve) => {
      const done = () =>
        resolve({
          grpcStatus: this.trailers?.['grpc-status'] === undefined ? undefined : Number(this.trailers['grpc-status']),
          grpcMessage: this.trailers?.['grpc-message'] === undefined ? undefined : decodeURIComponent(String(this.trailers['grpc-message'])),
          rstCode: this.stream.rstCode,
        });
      this.stream.on('close', done);
      this.stream.on('trailers', done);
      this.stream.on('response', (headers) => {
        if (headers['grpc-status'] !== undefined) done();
      });
    });
    if (!options.read) this.stream.pause();
  }

  send(request: object): void {
    this.stream.write(frame(this.path(), request));
  }

  sendRaw(bytes: Buffer): void {
    // A copy per stream: one buffer written to many streams that the server resets has corrupted
    // the heap of Node 20's HTTP/2 client here ("corrupted size vs. prev_size").
    this.stream.write(Buffer.from(bytes));
  }

  /** Starts reading: what the server still had for this stream arrives now. */
  read(): void {
    this.stream.resume();
  }

  close(): void {
    if (!this.stream.closed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
    if (!this.session.closed) this.session.close();
    this.session.destroy();
  }

  private path(): string {
    return String(this.stream.sentHeaders[':path']);
  }

  private onData(chunk: Buffer): void {
    this.bytes += chunk.length;
    this.pending = Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 5) {
      const length = this.pending.readUInt32BE(1);
      if (this.pending.length < 5 + length) break;
      this.messages++;
      this.pending = this.pending.subarray(5 + length);
    }
  }
}
