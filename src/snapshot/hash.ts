import { createHash } from 'node:crypto';

/** A short content hash: 64 bits of SHA-256 are plenty to tell versions of one resource apart. */
export function contentHash(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex').slice(0, 16);
}
