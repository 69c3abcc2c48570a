import type { FastifyPluginAsync } from 'fastify';
import type { HttpDeps } from '../deps.js';
import { errors, HealthReply, ReadyReply, response } from '../response-schemas.js';

const healthSchema = { tags: ['probes'], summary: 'Liveness: 200 while the process runs', response: { 200: response('Alive', HealthReply) } };
const readySchema = {
  tags: ['probes'],
  summary: 'Readiness: 200 once the registry is warm',
  response: { 200: response('Ready', ReadyReply), 503: { ...errors.internal, description: 'Not ready yet: the message says why' } },
};

export const healthRoutes: FastifyPluginAsync<HttpDeps> = async (app, deps) => {
  app.get('/healthz', { schema: healthSchema }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: readySchema }, async (_request, reply) => {
    const readiness = deps.readiness();
    if (readiness.ready) return { status: 'ready' };
    reply.status(503);
    return { statusCode: 503, error: 'Service Unavailable', message: readiness.reason };
  });
};
