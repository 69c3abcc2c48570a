import type { FastifyPluginAsync } from 'fastify';
import { requireToken } from '../auth.js';
import type { HttpDeps } from '../deps.js';
import { textResponse } from '../response-schemas.js';

const schema = {
  tags: ['operators'],
  summary: 'Prometheus metrics',
  response: { 200: textResponse('Prometheus text exposition (README, Operators)', ['text/plain']) },
};

/** GET /metrics: Prometheus text (contract 15), guarded like the other reads. */
export const metricsRoutes: FastifyPluginAsync<HttpDeps> = async (app, deps) => {
  app.get('/metrics', { schema, onRequest: requireToken(() => deps.config.auth, 'read') }, async (_request, reply) => {
    const text = await deps.metrics.text();
    return reply.type(deps.metrics.contentType).send(text);
  });
};
