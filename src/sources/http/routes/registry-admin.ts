import type { FastifyPluginAsync } from 'fastify';
import type { HttpDeps } from '../deps.js';
import { requireToken } from '../auth.js';
import { bodyErrors, errors, response, ResumeExpiryReply } from '../response-schemas.js';

const schema = {
  tags: ['registry'],
  summary: 'End self-preservation now',
  description: 'The silent nodes expire at once.',
  response: { 200: response('Resumed (wasPreserving: whether self-preservation held)', ResumeExpiryReply), ...bodyErrors, 503: errors.storeUnavailable },
};

/** POST /v1/registry/resume-expiry: the operator ends self-preservation; silent nodes expire now. */
export const registryAdminRoutes: FastifyPluginAsync<HttpDeps> = async (app, deps) => {
  app.post('/v1/registry/resume-expiry', { schema, onRequest: requireToken(() => deps.config.auth, 'admin') }, async (request) => {
    const wasPreserving = await deps.resumeExpiry();
    request.log.warn({ wasPreserving }, 'expiry resumed by operator');
    return { resumed: true, wasPreserving };
  });
};
