import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { FollowingError } from '../../../registry/mirror-registry.js';
import type { NodeRecord } from '../../../registry/node.js';
import { requireToken } from '../auth.js';
import type { HttpDeps } from '../deps.js';
import { MaintenanceBody } from '../operator-schemas.js';
import { bodyErrors, errors, MaintenanceOffReply, MaintenanceOnReply, response } from '../response-schemas.js';
import { NodeIdParams } from '../schemas.js';

const putSchema = {
  tags: ['registry'],
  summary: "Put a node in maintenance (Consul's maint)",
  description: 'The node goes to Envoy as DRAINING whatever its heartbeats say, until lifted; kept across restarts. The same reason again keeps the original start.',
  params: NodeIdParams,
  body: MaintenanceBody,
  response: {
    200: response('In maintenance', MaintenanceOnReply),
    ...bodyErrors,
    404: errors.notFound('no node with that id'),
    409: errors.following,
    503: errors.storeUnavailable,
  },
};
const deleteSchema = {
  tags: ['registry'],
  summary: 'Lift a node\'s maintenance',
  params: NodeIdParams,
  response: {
    200: response('Out of maintenance (wasInMaintenance: whether it was in)', MaintenanceOffReply),
    404: errors.notFound('no node with that id'),
    409: errors.following,
    503: errors.storeUnavailable,
  },
};

/** The node's maintenance as the API shows it. */
export function maintenanceJson(node: NodeRecord): { reason: string; since: string } | null {
  return node.maintenance ? { reason: node.maintenance.reason, since: new Date(node.maintenance.sinceMs).toISOString() } : null;
}

/**
 * Maintenance (Consul's `maint`, contract 15): PUT sends the node to Envoy as DRAINING whatever
 * its heartbeats say, until DELETE. Kept in the registry, so it survives restarts (state file).
 */
export const maintenanceRoutes: FastifyPluginAsync<HttpDeps> = async (fastify, deps) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const admin = requireToken(() => deps.config.auth, 'admin');
  const notFound = (id: string) => ({ statusCode: 404, error: 'Not Found', message: `id: no node "${id}"` });
  const following = (error: unknown) => {
    if (!(error instanceof FollowingError)) throw error;
    return { statusCode: 409, error: 'Conflict', message: `registry: ${error.message}` };
  };

  app.put('/v1/nodes/:id/maintenance', { schema: putSchema, onRequest: admin }, async (request, reply) => {
    const { id } = request.params;
    const current = deps.registry.get(id);
    if (!current) return reply.status(404).send(notFound(id));
    const reason = request.body.reason ?? 'maintenance';
    let node;
    try {
      // The same reason again keeps the original start.
      const sinceMs = current.maintenance?.reason === reason ? current.maintenance.sinceMs : deps.clock.now();
      node = await deps.registry.setMaintenance(id, { reason, sinceMs });
    } catch (error) {
      return reply.status(409).send(following(error));
    }
    if (!node) return reply.status(404).send(notFound(id));
    request.log.warn({ node: id, reason }, 'node put in maintenance by operator');
    // setMaintenance returned the node with its maintenance on: never null here.
    return { id, maintenance: maintenanceJson(node)! };
  });

  app.delete('/v1/nodes/:id/maintenance', { schema: deleteSchema, onRequest: admin }, async (request, reply) => {
    const { id } = request.params;
    const current = deps.registry.get(id);
    if (!current) return reply.status(404).send(notFound(id));
    if (current.maintenance) {
      try {
        await deps.registry.setMaintenance(id, undefined);
      } catch (error) {
        return reply.status(409).send(following(error));
      }
      request.log.info({ node: id }, 'node taken out of maintenance by operator');
    }
    return { id, maintenance: null, wasInMaintenance: current.maintenance !== undefined };
  });
};
