import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { FollowingError } from '../../../registry/mirror-registry.js';
import type { NodeRecord } from '../../../registry/node.js';
import { requireToken } from '../auth.js';
import type { HttpDeps } from '../deps.js';
import { maintenanceJson } from './maintenance.js';
import { errors, ForgottenReply, NodeReply, NodesReply, response } from '../response-schemas.js';
import { NodeIdParams } from '../schemas.js';

const listSchema = { tags: ['registry'], summary: 'The registry as stored', response: { 200: response('Every node', NodesReply) } };
const oneSchema = {
  tags: ['registry'],
  summary: 'One node as stored',
  params: NodeIdParams,
  response: { 200: response('The node', NodeReply), 404: errors.notFound('no node with that id') },
};
const forgetSchema = {
  tags: ['registry'],
  summary: 'Forget a node now',
  description: "Its per-node ports are held for it for registry.portReuseSeconds.",
  params: NodeIdParams,
  response: {
    200: response('Forgotten: the node as it was', ForgottenReply),
    404: errors.notFound('no node with that id'),
    409: errors.following,
    503: errors.storeUnavailable,
  },
};

/** The registry as stored, with server-clock times as ISO strings. */
export function nodeJson(node: NodeRecord) {
  const { host: _host, port: _port, firstSeenMs, lastHeartbeatMs, dc, maintenance: _maintenance, ...rest } = node;
  return {
    ...rest,
    dc: dc ?? null,
    firstSeen: new Date(firstSeenMs).toISOString(),
    lastHeartbeat: new Date(lastHeartbeatMs).toISOString(),
    maintenance: maintenanceJson(node),
  };
}

export const nodesRoutes: FastifyPluginAsync<HttpDeps> = async (fastify, deps) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const notFound = (id: string) => ({ statusCode: 404, error: 'Not Found', message: `id: no node "${id}"` });

  const read = requireToken(() => deps.config.auth, 'read');
  const admin = requireToken(() => deps.config.auth, 'admin');

  app.get('/v1/nodes', { schema: listSchema, onRequest: read }, async () => ({ nodes: deps.registry.list().map(nodeJson) }));

  app.get('/v1/nodes/:id', { schema: oneSchema, onRequest: read }, async (request, reply) => {
    const node = deps.registry.get(request.params.id);
    if (!node) return reply.status(404).send(notFound(request.params.id));
    return nodeJson(node);
  });

  app.delete('/v1/nodes/:id', { schema: forgetSchema, onRequest: admin }, async (request, reply) => {
    let node;
    try {
      node = await deps.registry.forget(request.params.id);
    } catch (error) {
      if (!(error instanceof FollowingError)) throw error;
      return reply.status(409).send({ statusCode: 409, error: 'Conflict', message: `registry: ${error.message}` });
    }
    if (!node) return reply.status(404).send(notFound(request.params.id));
    request.log.info({ node: node.id }, 'node forgotten by operator');
    return { forgotten: nodeJson(node) };
  });
};
