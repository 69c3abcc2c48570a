/**
 * A connection that keeps having its calls refused is closed (issue 11). Each refused call costs
 * the server the call's whole setup in grpc-js before shardvoy can say no, and the calls that
 * arrive together on one connection are handled in one turn of the event loop: 2,500 streams on
 * 25 connections held it for some 300 ms, and every heartbeat waited. Past
 * `xds.maxRefusedStreamsPerConnection` refusals on one HTTP/2 connection it is closed with GOAWAY
 * ENHANCE_YOUR_CALM, and what its client had already sent is dropped unread, as Envoy does with
 * connections that reset too many streams. A well-behaved client refused once backs off; one
 * that is refused over and over on the same connection is not well-behaved.
 */
import http2 from 'node:http2';
import { http2StreamOf } from './http2-stream-of.js';

export class RefusalGuard {
  private readonly refused = new WeakMap<http2.Http2Session, number>();

  constructor(
    /** xds.maxRefusedStreamsPerConnection, read at each refusal (it applies on reload). */
    private readonly limit: () => number,
    /** Told of each connection closed, with its peer. */
    private readonly onClose: (peer: string, refusals: number) => void,
  ) {}

  /**
   * Counts a refused call on its connection; closes the connection once it is past the limit.
   * Called after the refusal's status was sent, so the client that crossed the limit still sees it.
   */
  count(call: unknown, peer: string): void {
    const session = http2StreamOf(call)?.session;
    if (!session || session.destroyed) return;
    const refusals = (this.refused.get(session) ?? 0) + 1;
    this.refused.set(session, refusals);
    if (refusals <= this.limit()) return;
    session.destroy(undefined, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    this.onClose(peer, refusals);
  }
}
