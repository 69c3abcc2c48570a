/**
 * Versions re-derived in the test from what a client receives, independently of src/snapshot
 * (README "What Envoy receives", Versions; docs/heartbeat-rules.md, "Versions"):
 *  - a resource's version is the first 16 hex digits of the SHA-256 of its encoded bytes (the
 *    `value` of its Any), so any client can check it;
 *  - a set's version XORs, over its members, the first 64 bits of SHA-256(name NUL version),
 *    as 16 hex digits, followed by "-" and the number of members.
 */
import { createHash } from 'node:crypto';

export function resourceVersionOf(encoded: Uint8Array): string {
  return createHash('sha256').update(encoded).digest('hex').slice(0, 16);
}

export function setVersionOf(members: Iterable<readonly [name: string, version: string]>): string {
  let hi = 0n;
  let count = 0;
  for (const [name, version] of members) {
    const digest = createHash('sha256').update(`${name}\u0000${version}`).digest();
    hi ^= digest.readBigUInt64BE(0);
    count++;
  }
  return `${hi.toString(16).padStart(16, '0')}-${count}`;
}
