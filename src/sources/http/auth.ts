/** The HTTP side of authentication: a Fastify hook per kind of endpoint. */
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { acceptedTokens, bearerToken, tokenMatches, type Access } from '../../auth/tokens.js';
import type { AuthConfig } from '../../config/types.js';

/** `auth` is read per request, so a reloaded configuration's tokens apply at once. */
export function requireToken(auth: () => AuthConfig, access: Access): onRequestHookHandler {
  return (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => {
    const tokens = acceptedTokens(auth(), access);
    if (tokens === undefined || tokenMatches(bearerToken(request.headers.authorization), tokens)) return done();
    void reply
      .status(401)
      .header('www-authenticate', 'Bearer realm="shardvoy"')
      .send({ statusCode: 401, error: 'Unauthorized', message: `authorization: a valid Bearer token for ${access} is required` });
  };
}
