import type { FastifyPluginAsync } from 'fastify';
import type { HttpDeps } from '../deps.js';
import { requireToken } from '../auth.js';

/** POST /v1/registry/resume-expiry: the operator ends self-preservation; silent nodes expire now. */
export const registryAdminRoutes: FastifyPluginAsync<HttpDeps> = async (app, deps) => {
  app.post('/v1/registry/resume-expiry', { onRequest: requireToken(() => deps.config.auth, 'admin') }, async (request) => {
    const wasPreserving = await deps.resumeExpiry();
    request.log.warn({ wasPreserving }, 'expiry resumed by operator');
    return { resumed: true, wasPreserving };
  });
};
