import type { FastifyPluginAsync } from 'fastify';
import { SHORT_NAMES, isResourceTypeUrl } from '../../../envoy-api/type-urls.js';
import type { HttpDeps } from '../deps.js';
import { requireToken } from '../auth.js';
import { response, XdsClientsReply } from '../response-schemas.js';

const schema = {
  tags: ['routing'],
  summary: 'Every open xDS stream and, per type, what it was sent and ACKed',
  response: { 200: response('The streams', XdsClientsReply) },
};

export const xdsClientsRoutes: FastifyPluginAsync<HttpDeps> = async (app, deps) => {
  app.get('/v1/xds/clients', { schema, onRequest: requireToken(() => deps.config.auth, 'read') }, async () => ({
    clients: deps.xdsClients().map((client) => ({
      ...client,
      // Short names (cds, eds, lds, rds) read better than type URLs in an operator's terminal.
      types: Object.fromEntries(Object.entries(client.types).map(([url, status]) => [isResourceTypeUrl(url) ? SHORT_NAMES[url] : url, status])),
    })),
  }));
};
