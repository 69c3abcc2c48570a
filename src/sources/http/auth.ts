/** The HTTP side of authentication: a Fastify hook per kind of endpoint. */
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { acceptedTokens, bearerToken, tokenMatches, type Access } from '../../auth/tokens.js';
import type { AuthConfig } from '../../config/types.js';

/** Marks a guard with the kind of token it asks for, so GET /openapi.json says which routes need which (openapi.ts). */
export const GUARD_ACCESS = Symbol('shardvoy.guardAccess');
export type Guard = onRequestHookHandler & { readonly [GUARD_ACCESS]: Access };

/** `auth` is read per request, so a reloaded configuration's tokens apply at once. */
export function requireToken(auth: () => AuthConfig, access: Access): Guard {
  const guard = (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => {
    const tokens = acceptedTokens(auth(), access);
    if (tokens === undefined || tokenMatches(bearerToken(request.headers.authorization), tokens)) return done();
    void reply
      .status(401)
      .header('www-authenticate', 'Bearer realm="shardvoy"')
      .send({ statusCode: 401, error: 'Unauthorized', message: `authorization: a valid Bearer token for ${access} is required` });
  };
  return Object.assign(guard, { [GUARD_ACCESS]: access }) as Guard;
}

/** The kind of token a route's onRequest hooks ask for, if one of them is a guard. */
export function guardOf(onRequest: unknown): Access | undefined {
  for (const hook of [onRequest].flat()) {
    if (typeof hook === 'function' && GUARD_ACCESS in hook) return (hook as Guard)[GUARD_ACCESS];
  }
  return undefined;
}
