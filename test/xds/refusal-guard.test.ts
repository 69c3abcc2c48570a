/**
 * The refusal guard's allowance (src/xds/refusal-guard.ts), on a fake clock: a connection may
 * have xds.maxRefusedStreamsPerConnection calls refused at once, refilled over REFILL_MS; one
 * refused faster than that is closed with GOAWAY ENHANCE_YOUR_CALM, one refused slowly never is.
 */
import http2 from 'node:http2';
import { describe, expect, it } from 'vitest';
import { REFILL_MS, RefusalGuard } from '../../src/xds/refusal-guard.js';

/** A grpc-js call as the guard walks it: call -> stream -> session. */
function connection() {
  const session = { destroyed: false, closedWith: undefined as number | undefined, destroy(_error: unknown, code: number) { this.destroyed = true; this.closedWith = code; } };
  const call = { call: { stream: { session, close: () => undefined } } };
  return { session, call };
}

describe('refusal guard', () => {
  it('closes a connection refused more than the limit at once, and names the peer and the count', () => {
    let now = 0;
    const closed: Array<[string, number]> = [];
    const guard = new RefusalGuard(() => 3, () => now, (peer, refusals) => closed.push([peer, refusals]));
    const { session, call } = connection();
    for (let i = 0; i < 3; i++) guard.count(call, 'p');
    expect(session.destroyed).toBe(false);
    now += 100;
    guard.count(call, 'p');
    expect(session.closedWith).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    expect(closed).toEqual([['p', 4]]);
    guard.count(call, 'p'); // a closed connection is not counted again
    expect(closed).toHaveLength(1);
  });

  it('keeps a connection refused no faster than its allowance refills, however long it goes on', () => {
    let now = 0;
    const guard = new RefusalGuard(() => 3, () => now, () => undefined);
    const { session, call } = connection();
    for (let i = 0; i < 100; i++) {
      guard.count(call, 'p');
      now += REFILL_MS / 3; // one token back between refusals
    }
    expect(session.destroyed).toBe(false);
  });

  it('counts each connection on its own; 0 closes at the first refusal', () => {
    const guard = new RefusalGuard(() => 0, () => 0, () => undefined);
    const [a, b] = [connection(), connection()];
    guard.count(a.call, 'p');
    expect([a.session.destroyed, b.session.destroyed]).toEqual([true, false]);
  });
});
