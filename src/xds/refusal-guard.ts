/**
 * A connection that keeps having its calls refused is closed (issue 11). Each refused call costs
 * the server the call's whole setup in grpc-js before shardvoy can say no, and the calls that
 * arrive together on one connection are handled in one turn of the event loop: 2,500 streams on
 * 25 connections held it for some 300 ms, and every heartbeat waited. A connection may have
 * `xds.maxRefusedStreamsPerConnection` calls refused at once, an allowance that refills over
 * REFILL_MS; past it the connection is closed with GOAWAY ENHANCE_YOUR_CALM (its other calls end
 * too) and what its client had already sent is dropped unread, as Envoy does with connections
 * that reset too many streams. A client refused once backs off (Envoy retries after 0.5 s and
 * longer): it never empties the allowance; one refused over and over at once is an attacker.
 *
 * Counted: the refusals shardvoy makes (stream limits, request limits, unknown groups, tokens,
 * request budgets). grpc-js answers some calls before shardvoy sees them (an unknown method, a
 * message over xds.maxRequestBytes, one that does not decode), and HTTP/2 resets the calls over
 * xds.maxStreamsPerConnection before either sees them: those are not counted.
 */
import http2 from 'node:http2';
import { http2StreamOf } from './http2-stream-of.js';
import { TokenBucket } from './token-bucket.js';

/** The allowance of refusals refills from empty to whole over this long. */
export const REFILL_MS = 10_000;

export class RefusalGuard {
  private readonly allowance = new WeakMap<http2.Http2Session, { bucket: TokenBucket; refusals: number }>();

  constructor(
    /** xds.maxRefusedStreamsPerConnection, read for each new connection (it applies on reload). */
    private readonly limit: () => number,
    private readonly now: () => number,
    /** Told of each connection closed, with its peer and how many of its calls were refused. */
    private readonly onClose: (peer: string, refusals: number) => void,
  ) {}

  /**
   * Counts a refused call on its connection; closes the connection once its allowance is spent.
   * Called after the refusal's status was sent, so the client that crossed the limit still sees it.
   */
  count(call: unknown, peer: string): void {
    const session = http2StreamOf(call)?.session;
    if (!session || session.destroyed) return;
    let entry = this.allowance.get(session);
    if (!entry) {
      const limit = this.limit();
      entry = { bucket: new TokenBucket((limit * 1000) / REFILL_MS, limit, this.now()), refusals: 0 };
      this.allowance.set(session, entry);
    }
    entry.refusals++;
    if (entry.bucket.take(this.now())) return;
    session.destroy(undefined, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    this.onClose(peer, entry.refusals);
  }
}
