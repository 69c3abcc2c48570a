import type { FastifyPluginAsync } from 'fastify';
import type { HttpDeps } from '../deps.js';

export const healthRoutes: FastifyPluginAsync<HttpDeps> = async (app, deps) => {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const readiness = deps.readiness();
    if (readiness.ready) return { status: 'ready' };
    reply.status(503);
    return { statusCode: 503, error: 'Service Unavailable', message: readiness.reason };
  });
};
