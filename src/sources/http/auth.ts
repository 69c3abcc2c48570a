/** The HTTP side of authentication: a Fastify hook per kind of endpoint. */
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { acceptedTokens, bearerToken, tokenMatches, type Access } from '../../auth/tokens.js';
import type { AuthConfig } from '../../config/types.js';

export function requireToken(auth: AuthConfig, access: Access): onRequestHookHandler {
  const tokens = acceptedTokens(auth, access);
  return (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => {
    if (tokens === undefined || tokenMatches(bearerToken(request.headers.authorization), tokens)) return done();
    void reply
      .status(401)
      .header('www-authenticate', 'Bearer realm="shardvoy"')
      .send({ statusCode: 401, error: 'Unauthorized', message: `authorization: a valid Bearer token for ${access} is required` });
  };
}
