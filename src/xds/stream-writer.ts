/**
 * Backpressure for a server stream (issue 11): at most one response is in the transport at a
 * time. Until grpc-js has handed it to the connection (its write callback), the stream builds
 * nothing more, so a client that does not read costs one response, not a queue; when the
 * response goes, the stream sends what is owed from the latest state. A stream whose response
 * stays unwritten past the timeout is reset, which frees what the transport still holds.
 */
import http2 from 'node:http2';
import { http2StreamOf } from './http2-stream-of.js';

interface WritableCall {
  write(chunk: unknown, callback: () => void): boolean;
}

export class StreamWriter {
  private inFlight = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly call: WritableCall,
    private readonly timeoutMs: () => number,
    private readonly onDrain: () => void,
    private readonly onStuck: () => void,
  ) {}

  get ready(): boolean {
    return !this.inFlight && !this.closed;
  }

  write(chunk: unknown): void {
    if (this.closed) return;
    this.inFlight = true;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.inFlight) this.onStuck();
    }, this.timeoutMs());
    this.timer.unref();
    this.call.write(chunk, () => {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.inFlight = false;
      if (!this.closed) this.onDrain();
    });
  }

  /**
   * Writes nothing more. A response still in the transport stays watched: a stream closed with a
   * status that waits behind unread data is reset once the timeout passes.
   */
  close(): void {
    this.closed = true;
    if (!this.inFlight && this.timer) clearTimeout(this.timer);
  }
}

/**
 * Resets a grpc-js server call's HTTP/2 stream (RST_STREAM CANCEL). A status cannot reach a client
 * that reads nothing (trailers queue behind the unread data), and only the reset lets go of the
 * data. Returns false if the call's stream was not found.
 */
export function resetCall(call: unknown): boolean {
  const stream = http2StreamOf(call);
  if (!stream) return false;
  if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
  return true;
}
