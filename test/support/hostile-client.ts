/**
 * Clients that misbehave on purpose (issue 11), on a bare HTTP/2 connection (./raw-h2.ts) so they
 * can do what a gRPC library would not: never read (no flow-control window is granted, so the
 * server's writes stay unsent), send requests far over the limits, and count the gRPC messages
 * that arrive once they do read.
 */
import { envoyType } from '../../src/envoy-api/protos.js';
import { type Headers, RawH2Session, type RawH2Stream } from './raw-h2.js';

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
  /** Ended with its connection (GOAWAY or the socket closed), with no status and no reset of its own. */
  readonly connectionClosed: boolean;
}

/** One streaming call, on a connection of its own unless given one; paused (reading nothing) unless told otherwise. */
export class RawCall {
  readonly session: RawH2Session;
  private readonly stream: RawH2Stream;
  /** gRPC messages received once reading. */
  messages = 0;
  bytes = 0;
  private pending = Buffer.alloc(0);
  readonly closed: Promise<RawCallStatus>;

  constructor(address: string, path: string, options: { read?: boolean; session?: RawH2Session; localAddress?: string } = {}) {
    // Another loopback address (127.0.1.x) is another peer to the server.
    this.session = options.session ?? new RawH2Session(address, options.localAddress);
    let trailers: Headers | undefined;
    let resolve!: (status: RawCallStatus) => void;
    this.closed = new Promise((done) => (resolve = done));
    // Ended by the server's status (trailers, or a trailers-only answer) or by a reset, whichever comes first.
    const status = (rstCode: number | undefined, connectionClosed = false): RawCallStatus => ({
      grpcStatus: trailers?.['grpc-status'] === undefined ? undefined : Number(trailers['grpc-status']),
      grpcMessage: trailers?.['grpc-message'] === undefined ? undefined : decodeURIComponent(trailers['grpc-message']),
      rstCode,
      connectionClosed,
    });
    this.stream = this.session.request(path, { 'content-type': 'application/grpc', te: 'trailers' }, options.read ?? false, {
      headers: (headers) => {
        if (headers['grpc-status'] === undefined) return;
        trailers = headers;
        resolve(status(undefined));
      },
      data: (chunk) => this.onData(chunk),
      closed: (rstCode, connectionClosed) => resolve(status(rstCode, connectionClosed)),
    });
  }

  send(request: object): void {
    this.stream.write(frame(this.stream.path, request));
  }

  sendRaw(bytes: Buffer): void {
    this.stream.write(bytes);
  }

  /** Starts reading: what the server still had for this stream arrives now. */
  read(): void {
    this.stream.read();
  }

  /** Cancels the stream and closes its connection (every call sharing it ends too). */
  close(): void {
    this.stream.reset();
    this.session.close();
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
