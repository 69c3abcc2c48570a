/**
 * The discovery and operator HTTP API. Built by a function and started elsewhere, so tests use
 * inject() without a port.
 */
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from 'pino';
import { StoreUnavailableError } from '../../registry/registry.js';
import { RepeatLimiter } from '../../util/log-limits.js';
import { outcomeOfStatus, sourceOfUserAgent } from '../heartbeat-outcome.js';
import { decodeBody } from './body-decoding.js';
import type { HttpDeps } from './deps.js';
import { advertisedRoutes } from './routes/advertised.js';
import { clustersRoutes } from './routes/clusters.js';
import { eventsRoutes } from './routes/events.js';
import { groupConfigRoutes } from './routes/group-config.js';
import { healthRoutes } from './routes/health.js';
import { heartbeatRoutes } from './routes/heartbeat.js';
import { maintenanceRoutes } from './routes/maintenance.js';
import { metricsRoutes } from './routes/metrics.js';
import { docsRoutes, registerOpenApi } from './openapi.js';
import { nodesRoutes } from './routes/nodes.js';
import { registryAdminRoutes } from './routes/registry-admin.js';
import { uiRoutes } from './routes/ui.js';
import { xdsClientsRoutes } from './routes/xds-clients.js';
import { describeErrors } from './validation-errors.js';

export const MAX_BODY_BYTES = 64 * 1024;

export type { HttpDeps } from './deps.js';

export type App = FastifyInstance<any, any, any, Logger, TypeBoxTypeProvider>;

export interface BuildOptions {
  /**
   * Called before any route is registered, so the hooks it adds reach every route (Fastify
   * copies a parent's hooks into a plugin when the plugin starts). The tests check each response
   * against GET /openapi.json this way (test/support/openapi-check.ts).
   */
  readonly beforeRoutes?: (app: App) => void;
}

export async function buildApp(deps: HttpDeps, options: BuildOptions = {}): Promise<App> {
  const tls = deps.config.http.tls;
  const app = Fastify({
    ...(tls
      ? { https: { cert: tls.cert, key: tls.key, ...(tls.ca ? { ca: tls.ca } : {}), requestCert: tls.requireClientCert, rejectUnauthorized: tls.requireClientCert } }
      : {}),
    loggerInstance: deps.logger,
    // One log line per heartbeat per node per second would drown everything else.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: MAX_BODY_BYTES,
    // Node ids may be 128 characters; the router's default limit for a path parameter is 100.
    // Under routerOptions: at the top level Fastify 5 warns (FSTDEP022) on every start.
    routerOptions: { maxParamLength: 256 },
    // JSON.parse never sets a prototype, and nothing here assigns into shared objects, so a
    // "__proto__" key is just a key: an unknown field at the top, a label name inside labels.
    onProtoPoisoning: 'ignore',
    // The router's own errors (a path too long, a malformed URL) in the API's error shape.
    frameworkErrors: (error, _request, reply) => {
      const statusCode = error.statusCode ?? 400;
      void (reply as FastifyReply).code(statusCode).send({ statusCode, error: httpErrorName(statusCode), message: `url: ${error.message}` });
    },
    ajv: {
      customOptions: {
        // Refuse, never repair: no coercion, no silently dropped unknown fields, every error reported.
        coerceTypes: false,
        removeAdditional: false,
        useDefaults: false,
        allErrors: true,
        verbose: true,
      },
    },
    schemaErrorFormatter: (errors, dataVar) => new Error(describeErrors(dataVar, errors)),
  }).withTypeProvider<TypeBoxTypeProvider>();

  // The API speaks JSON only: a text/plain body is refused (415) instead of failing the schema.
  app.removeContentTypeParser('text/plain');
  const warnings = new RepeatLimiter();
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof StoreUnavailableError) {
      // etcd unreachable: nothing was stored, say when to try again (contract 14, fail-static).
      warnings.log(request.log, 'warn', 'store-unavailable', { reason: error.message }, 'write refused: registry store unavailable');
      return reply.status(503).header('retry-after', String(error.retryAfterSeconds)).send({ statusCode: 503, error: 'Service Unavailable', message: `registry: ${error.message}` });
    }
    const statusCode = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
    if (statusCode >= 500) request.log.error({ err: error, url: request.url }, 'request failed');
    reply.status(statusCode).send({ statusCode, error: httpErrorName(statusCode), message: clientMessage(error, statusCode) });
  });
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send({ statusCode: 404, error: 'Not Found', message: `${request.method} ${request.url}: no such endpoint` });
  });
  // Before the routes, so every body is decoded (and limited) before anything reads it.
  app.addHook('preParsing', decodeBody(MAX_BODY_BYTES));
  const onHeartbeat = deps.onHeartbeat;
  if (onHeartbeat) {
    // Every heartbeat's outcome, refusals by auth, limits and validation included, as the client saw it.
    app.addHook('onResponse', (request, reply, done) => {
      if (request.method === 'POST' && request.routeOptions.url === '/v1/heartbeat') {
        onHeartbeat(sourceOfUserAgent(request.headers['user-agent']), outcomeOfStatus(reply.statusCode));
      }
      done();
    });
  }

  // Response schemas document the routes (GET /openapi.json) and never serialize: every reply is
  // JSON.stringify of what the handler returned, field for field, as without a schema (a
  // fast-json-stringify serializer would drop unlisted fields and coerce values).
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  await registerOpenApi(app);
  options.beforeRoutes?.(app);

  await app.register(heartbeatRoutes, deps);
  await app.register(clustersRoutes, deps);
  await app.register(nodesRoutes, deps);
  await app.register(maintenanceRoutes, deps);
  await app.register(advertisedRoutes, deps);
  await app.register(groupConfigRoutes, deps);
  await app.register(registryAdminRoutes, deps);
  await app.register(xdsClientsRoutes, deps);
  await app.register(healthRoutes, deps);
  await app.register(metricsRoutes, deps);
  await app.register(eventsRoutes, deps);
  await app.register(uiRoutes, deps);
  await app.register(docsRoutes);
  return app;
}

const NAMES: Record<number, string> = {
  400: 'Bad Request',
  414: 'URI Too Long',
  401: 'Unauthorized',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function httpErrorName(statusCode: number): string {
  return NAMES[statusCode] ?? (statusCode >= 500 ? 'Internal Server Error' : 'Bad Request');
}

/** Fastify's own errors say what failed but not always which part of the request; name it. */
function clientMessage(error: FastifyError, statusCode: number): string {
  if (statusCode >= 500) return 'internal error';
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return `body: larger than ${MAX_BODY_BYTES} bytes`;
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return `content-type: must be application/json (${error.message})`;
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'body: is empty; a JSON object is required';
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return `body: ${error.message}`;
    default:
      return error.message;
  }
}
