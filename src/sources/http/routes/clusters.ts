import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { clusterTable, clusterViews } from '../../../topology/cluster-view.js';
import type { HttpDeps } from '../deps.js';
import { requireToken } from '../auth.js';
import { Type } from '@sinclair/typebox';
import { ClustersReply, errors } from '../response-schemas.js';
import { ClustersQuery } from '../schemas.js';

const schema = {
  tags: ['routing'],
  summary: 'Every cluster with its nodes and their health',
  description:
    'One entry for every cluster a group names and every (database, shard, role) seen in heartbeats. Only healthy and draining endpoints reach Envoy. format=text: the same as an aligned table.',
  querystring: ClustersQuery,
  response: {
    200: {
      description: 'The clusters, computed from the snapshot of `version` (format=text: as a table)',
      content: { 'application/json': { schema: ClustersReply }, 'text/plain': { schema: Type.String() } },
    },
    400: errors.invalid,
    404: errors.notFound('no group of that name'),
  },
};

export const clustersRoutes: FastifyPluginAsync<HttpDeps> = async (fastify, deps) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get('/clusters', { schema, onRequest: requireToken(() => deps.config.auth, 'read') }, async (request, reply) => {
    const { format, ...filter } = request.query;
    if (filter.group !== undefined && !deps.config.groups.some((g) => g.name === filter.group)) {
      reply.status(404);
      return { statusCode: 404, error: 'Not Found', message: `querystring.group: no group named "${filter.group}"` };
    }
    const view = deps.routingView();
    // Ages come from the live registry: lease renewals change no route and trigger no rebuild.
    const lastHeartbeat = (node: { id: string; lastHeartbeatMs: number }) => deps.registry.get(node.id)?.lastHeartbeatMs ?? node.lastHeartbeatMs;
    const clusters = clusterViews(deps.config, view.nodes, view.health, lastHeartbeat, deps.registry.ports, view.preserved, deps.clock.now(), filter);
    if (format === 'text') {
      reply.type('text/plain; charset=utf-8');
      return clusterTable(view.version, clusters);
    }
    return { version: view.version, clusters };
  });
};
