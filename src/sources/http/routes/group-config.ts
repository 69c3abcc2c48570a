/**
 * Configs for a group's clients and sidecars, made from the configuration (contract 7.3):
 *  - GET /v1/groups/:group/client-config: the DKV client config (`dkvShards`);
 *  - GET /v1/groups/:group/envoy-bootstrap?xds=HOST:PORT: an Envoy bootstrap (YAML).
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { GroupConfig, HostPort } from '../../../config/types.js';
import { isDnsName, parseHostPort } from '../../../util/host-port.js';
import type { HttpDeps } from '../deps.js';
import { requireToken } from '../auth.js';
import { dkvClientConfig } from '../client-config.js';
import { envoyBootstrapYaml } from '../envoy-bootstrap.js';
import { ClientConfigReply, errors, response, textResponse } from '../response-schemas.js';

const GroupParams = Type.Object({ group: Type.String() });
const BootstrapQuery = Type.Object(
  { xds: Type.Optional(Type.String({ description: 'xds: the control plane gRPC address, HOST:PORT' })) },
  { additionalProperties: false },
);

const DEFAULT_XDS_HOST = '127.0.0.1';

const clientConfigSchema = {
  tags: ['routing'],
  summary: "A group's DKV client config (dkvShards)",
  params: GroupParams,
  response: {
    200: response("Per shard, the MASTER and SLAVE topologies at the group's Envoy listeners", ClientConfigReply),
    404: errors.notFound('no group of that name'),
    409: error409('the group is proxyless: it has no Envoy listeners'),
  },
};
const bootstrapSchema = {
  tags: ['routing'],
  summary: 'An Envoy bootstrap (YAML) for a sidecar of the group',
  description: 'node.id the group, LDS/CDS over ADS to xds (default: this request\'s host and the gRPC port), admin on 127.0.0.1:9901.',
  params: GroupParams,
  querystring: BootstrapQuery,
  response: {
    200: textResponse('The bootstrap', ['application/yaml']),
    400: errors.invalid,
    404: errors.notFound('no group of that name'),
    409: error409('the group is proxyless: its clients need a gRPC xDS bootstrap'),
  },
};

function error409(why: string) {
  return { ...errors.following, description: `Conflict: ${why}` };
}

function error<Code extends 400 | 404 | 409>(statusCode: Code, message: string) {
  const names = { 400: 'Bad Request', 404: 'Not Found', 409: 'Conflict' } as const;
  return { statusCode, error: names[statusCode], message };
}

/** The host name of a Host header (`name:port`, `[v6]:port`, `name`), or undefined if it is none of those. */
export function hostOfHostHeader(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    const rest = value.slice(close + 1);
    const host = value.slice(1, close);
    return close > 0 && (rest === '' || /^:[0-9]*$/.test(rest)) && isIPv6(host) ? host : undefined;
  }
  const host = value.replace(/:[0-9]*$/, '');
  return isIPv4(host) || isDnsName(host) ? host : undefined;
}

export const groupConfigRoutes: FastifyPluginAsync<HttpDeps> = async (fastify, deps) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const readGuard = requireToken(() => deps.config.auth, 'read');

  /** The group named in the path, or the error answer for it. */
  const lookup = (name: string, proxylessReason: string): { group: GroupConfig } | { failure: ReturnType<typeof error<404 | 409>> } => {
    const group = deps.config.groups.find((g) => g.name === name);
    if (!group) {
      const known = deps.config.groups.map((g) => g.name).join(', ');
      return { failure: error(404, `params.group: no group named "${name}" (configured groups: ${known})`) };
    }
    if (group.proxyless) return { failure: error(409, `params.group: group "${name}" is proxyless: ${proxylessReason}`) };
    return { group };
  };

  app.get('/v1/groups/:group/client-config', { schema: clientConfigSchema, onRequest: readGuard }, async (request, reply) => {
    const found = lookup(
      request.params.group,
      'it has no Envoy listeners, so there is no DKV client config; its gRPC clients dial xds:///<cluster name> with a gRPC xDS bootstrap whose node.id is the group',
    );
    if ('failure' in found) {
      reply.status(found.failure.statusCode);
      return found.failure;
    }
    return dkvClientConfig(found.group);
  });

  app.get(
    '/v1/groups/:group/envoy-bootstrap',
    { schema: bootstrapSchema, onRequest: readGuard },
    async (request, reply) => {
      const found = lookup(
        request.params.group,
        'its clients speak xDS themselves and need a gRPC xDS bootstrap (node.id = the group), not an Envoy bootstrap',
      );
      if ('failure' in found) {
        reply.status(found.failure.statusCode);
        return found.failure;
      }
      let xds: HostPort;
      if (request.query.xds !== undefined) {
        const parsed = parseHostPort(request.query.xds);
        if (!parsed.ok) {
          reply.status(400);
          return error(400, `querystring.xds: "${request.query.xds}" is not a valid HOST:PORT: ${parsed.reason}`);
        }
        xds = parsed.value;
      } else {
        const port = deps.config.grpc.listen.port;
        if (port === 0) {
          // A port picked at start is not in the configuration; the caller knows it from the log line.
          reply.status(400);
          return error(400, 'querystring.xds: is required here: the gRPC port is picked at start (port 0), so give xds=HOST:PORT');
        }
        xds = { host: hostOfHostHeader(request.headers.host) ?? DEFAULT_XDS_HOST, port };
      }
      return reply.type('application/yaml; charset=utf-8').send(envoyBootstrapYaml(found.group, xds, deps.config.grpc.tls));
    },
  );
};
