import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Heartbeat } from '../../../registry/node.js';
import { FollowingError } from '../../../registry/mirror-registry.js';
import { RegistryFullError } from '../../../registry/registry.js';
import { advertisedAddresses } from '../../../topology/advertised.js';
import { parseHostPort } from '../../../util/host-port.js';
import type { HttpDeps } from '../app.js';
import { requireToken } from '../auth.js';
import { HeartbeatBody } from '../schemas.js';

export class HeartbeatError extends Error {
  readonly statusCode = 400;
}

/** Applies the defaults of the contract and the checks a JSON schema cannot express. */
export function toHeartbeat(body: HeartbeatBody): Heartbeat {
  const parsed = parseHostPort(body.address);
  if (!parsed.ok) throw new HeartbeatError(`body.address: ${parsed.reason}`);
  return {
    id: body.id ?? body.address,
    address: body.address,
    host: parsed.value.host,
    port: parsed.value.port,
    database: body.database,
    shard: body.shard,
    role: body.role,
    status: body.status ?? 'active',
    dc: body.dc,
    epoch: body.epoch ?? 0,
    labels: body.labels ?? {},
  };
}

export const heartbeatRoutes: FastifyPluginAsync<HttpDeps> = async (fastify, deps) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.post('/v1/heartbeat', { schema: { body: HeartbeatBody }, onRequest: requireToken(() => deps.config.auth, 'heartbeat') }, async (request, reply) => {
    let outcome;
    try {
      outcome = deps.registry.record(toHeartbeat(request.body));
    } catch (error) {
      if (error instanceof FollowingError) {
        return reply.status(409).send({ statusCode: 409, error: 'Conflict', message: `registry: ${error.message}` });
      }
      if (!(error instanceof RegistryFullError)) throw error;
      request.log.warn({ maxNodes: error.maxNodes }, 'new node refused: registry full');
      return reply.status(429).send({ statusCode: 429, error: 'Too Many Requests', message: `id: ${error.message}` });
    }
    for (const group of outcome.portsExhausted) {
      request.log.warn({ node: outcome.node.id, group }, `no free node-listener port in group ${group}: node ${outcome.node.id} gets no listener of its own`);
    }
    if (outcome.routingChanged) {
      request.log.info(
        { node: outcome.node.id, address: outcome.node.address, shard: outcome.node.shard, role: outcome.node.role, status: outcome.node.status, epoch: outcome.node.epoch },
        'node routing changed',
      );
    }
    const advertised = advertisedAddresses(deps.config, deps.registry.ports, outcome.node.id, outcome.node.database);
    return {
      leaseSeconds: deps.config.registry.leaseSeconds,
      // Only real addresses: a node cannot advertise a port it does not hold.
      advertised: Object.fromEntries(Object.entries(advertised).filter(([, address]) => address !== null)),
    };
  });
};
