/**
 * Bearer tokens (contract section 9): heartbeat tokens for heartbeats (HTTP and DKV), the admin
 * token for mutating operator endpoints, the optional read token for the reads (the admin token
 * reads too). Compared in constant time; never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';
import type { AuthConfig } from '../config/types.js';

export type Access = 'heartbeat' | 'admin' | 'read';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** True if `presented` equals one of `tokens`; every token is compared, so timing reveals nothing. */
export function tokenMatches(presented: string | undefined, tokens: readonly string[]): boolean {
  const candidate = digest(presented ?? '');
  let match = false;
  for (const token of tokens) {
    if (timingSafeEqual(candidate, digest(token))) match = true;
  }
  return presented !== undefined && match;
}

/** The tokens that open an endpoint of this kind, or undefined when it is open to all. */
export function acceptedTokens(auth: AuthConfig, access: Access): readonly string[] | undefined {
  switch (access) {
    case 'heartbeat':
      return auth.heartbeatTokens.length > 0 ? auth.heartbeatTokens : undefined;
    case 'admin':
      return auth.adminToken === undefined ? undefined : [auth.adminToken];
    case 'read':
      return auth.readToken === undefined ? undefined : [auth.readToken, ...(auth.adminToken === undefined ? [] : [auth.adminToken])];
  }
}

export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/** gRPC metadata `authorization: Bearer <token>`, checked like the HTTP API's header. */
export function metadataTokenCheck(auth: () => AuthConfig, access: Access): (metadata: Metadata) => string | undefined {
  return (metadata) => {
    const tokens = acceptedTokens(auth(), access);
    if (tokens === undefined) return undefined;
    const header = metadata.get('authorization')[0];
    return tokenMatches(bearerToken(typeof header === 'string' ? header : undefined), tokens) ? undefined : `authorization: a valid Bearer token for ${access} is required`;
  };
}
