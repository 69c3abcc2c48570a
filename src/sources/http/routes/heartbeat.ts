import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { FollowingError } from '../../../registry/mirror-registry.js';
import { RegistryFullError } from '../../../registry/registry.js';
import { advertisedAddresses } from '../../../topology/advertised.js';
import type { HttpDeps } from '../deps.js';
import { requireToken } from '../auth.js';
import { toHeartbeat } from '../heartbeat-body.js';
import { topLevelValueText } from '../json-literal.js';
import { jsonTextOf, keepJsonText } from '../json-text.js';
import { RepeatLimiter } from '../../../util/log-limits.js';
import { bodyErrors, errors, HeartbeatResponse, response } from '../response-schemas.js';
import { HeartbeatBody } from '../schemas.js';

const schema = {
  tags: ['registry'],
  summary: 'Register or renew a node',
  description:
    "Live until leaseSeconds after this heartbeat, on the server's clock. A heartbeat from a known id with a new address, shard, database or role moves the node.",
  body: HeartbeatBody,
  response: {
    200: response("Recorded: the lease to renew within, and the node's address in each group with nodeListeners where it holds a port", HeartbeatResponse),
    ...bodyErrors,
    409: errors.following,
    429: errors.registryFull,
    503: errors.storeUnavailable,
  },
};

const registryFullWarnings = new RepeatLimiter();

export const heartbeatRoutes: FastifyPluginAsync<HttpDeps> = async (fastify, deps) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  // The body as written: the epoch's rule is on the number as sent (heartbeat-body.ts).
  keepJsonText(fastify);
  app.post('/v1/heartbeat', { schema, onRequest: requireToken(() => deps.config.auth, 'heartbeat') }, async (request, reply) => {
    const text = request.body.epoch === undefined ? undefined : jsonTextOf(request);
    const heartbeat = toHeartbeat(request.body, { epoch: text === undefined ? undefined : topLevelValueText(text, 'epoch') });
    let outcome;
    try {
      outcome = await deps.registry.record(heartbeat);
    } catch (error) {
      if (error instanceof FollowingError) {
        return reply.status(409).send({ statusCode: 409, error: 'Conflict', message: `registry: ${error.message}` });
      }
      if (!(error instanceof RegistryFullError)) throw error;
      // Junk ids can be sent at any rate: one line per 10 s, counting the others (issue 11).
      registryFullWarnings.log(request.log, 'warn', 'registry-full', { maxNodes: error.maxNodes }, 'new node refused: registry full');
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
      advertised: Object.fromEntries(Object.entries(advertised).filter((entry): entry is [string, string] => entry[1] !== null)),
    } satisfies HeartbeatResponse;
  });
};
