import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { HttpDeps } from '../deps.js';
import { requireToken } from '../auth.js';
import { AdvertisedReply, errors, response } from '../response-schemas.js';
import { AdvertisedQuery } from '../schemas.js';

const schema = {
  tags: ['routing'],
  summary: 'Where other networks reach each node of a group',
  querystring: AdvertisedQuery,
  response: {
    200: response('Every node holding a port in the group, with the address it is reached at', AdvertisedReply),
    400: errors.invalid,
    404: errors.notFound('no group of that name, or one without nodeListeners'),
  },
};

/** GET /v1/advertised?group=G: every node holding a port in G, with the address it is reached at. */
export const advertisedRoutes: FastifyPluginAsync<HttpDeps> = async (fastify, deps) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get('/v1/advertised', { schema, onRequest: requireToken(() => deps.config.auth, 'read') }, async (request, reply) => {
    const group = deps.config.groups.find((g) => g.name === request.query.group);
    if (!group) {
      reply.status(404);
      return { statusCode: 404, error: 'Not Found', message: `querystring.group: no group named "${request.query.group}"` };
    }
    if (!group.nodeListeners) {
      reply.status(404);
      return { statusCode: 404, error: 'Not Found', message: `querystring.group: group "${group.name}" has no nodeListeners, so it advertises no node` };
    }
    const result: Record<string, string> = {};
    for (const node of deps.registry.list()) {
      const assignment = deps.registry.ports.portOf(group.name, node.id);
      if (assignment) result[node.id] = `${assignment.advertisedHost}:${assignment.port}`;
    }
    return result;
  });
};
