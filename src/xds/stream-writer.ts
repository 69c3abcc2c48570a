/**
 * Backpressure for a server stream (issue 11): at most one response is in the transport at a
 * time. Until grpc-js has handed it to the connection (its write callback), the stream builds
 * nothing more, so a client that does not read costs one response, not a queue; when the
 * response goes, the stream sends what is owed from the latest state. A stream whose response
 * stays unwritten past the timeout is reset, which frees what the transport still holds.
 */
import http2 from 'node:http2';

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
 * data. grpc-js has no public way to do it: its call objects are walked to the http2 stream.
 * Returns false if none was found.
 */
export function resetCall(call: unknown): boolean {
  let inner = (call as { call?: unknown }).call;
  for (let depth = 0; inner && depth < 16; depth++) {
    const stream = (inner as { stream?: { close?: (code: number) => void; destroyed?: boolean } }).stream;
    if (stream && typeof stream.close === 'function') {
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
      return true;
    }
    inner = (inner as { nextCall?: unknown }).nextCall;
  }
  return false;
}
