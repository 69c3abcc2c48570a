import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { ServerResponse } from 'node:http';
import type { OperatorEvent } from '../../../observers/event-log.js';
import { requireToken } from '../auth.js';
import type { HttpDeps } from '../deps.js';
import { EventsQuery } from '../operator-schemas.js';
import { errors, EventsReply, response, textResponse } from '../response-schemas.js';

const listSchema = {
  tags: ['operators'],
  summary: 'The retained events after an id, oldest first',
  querystring: EventsQuery,
  response: { 200: response('The events with an id above since (default 0)', EventsReply), 400: errors.invalid },
};
const streamSchema = {
  tags: ['operators'],
  summary: 'The events, live (Server-Sent Events)',
  description: 'One message per event (id: its id, data: the event as JSON), resuming after Last-Event-ID or ?since=ID, else from the next event; retry: 1000, a comment line every 15 s.',
  querystring: EventsQuery,
  headers: { type: 'object', properties: { 'last-event-id': { type: 'string', description: 'resume after this event id' } } },
  response: { 200: textResponse('An endless event stream', ['text/event-stream']), 400: errors.invalid },
};

/** A comment line this often keeps proxies from closing an idle event stream. */
const KEEPALIVE_MS = 15_000;

/**
 * GET /v1/events?since=ID: the retained events after ID, oldest first. GET /v1/events/stream:
 * Server-Sent Events, one `message` per event with its id, resuming after `Last-Event-ID` (or
 * `?since=`); what the ring still holds of the gap is sent first.
 */
export const eventsRoutes: FastifyPluginAsync<HttpDeps> = async (fastify, deps) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const read = requireToken(() => deps.config.auth, 'read');
  const open = new Set<ServerResponse>();

  app.get('/v1/events', { schema: listSchema, onRequest: read }, async (request) => {
    const since = request.query.since === undefined ? 0 : Number(request.query.since);
    return { latestId: deps.events.latestId, events: deps.events.since(since) };
  });

  app.get('/v1/events/stream', { schema: streamSchema, onRequest: read }, async (request, reply) => {
    const header = request.headers['last-event-id'];
    const lastEventId = typeof header === 'string' && /^[0-9]{1,15}$/.test(header.trim()) ? Number(header.trim()) : undefined;
    const since = lastEventId ?? (request.query.since === undefined ? deps.events.latestId : Number(request.query.since));
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    // Reconnect after 1 s if the connection drops; the browser sends Last-Event-ID itself.
    raw.write('retry: 1000\n\n');
    const send = (event: OperatorEvent) => raw.write(`id: ${event.id}\ndata: ${JSON.stringify(event)}\n\n`);
    for (const event of deps.events.since(since)) send(event);
    const unsubscribe = deps.events.subscribe(send);
    const keepalive = setInterval(() => raw.write(': keepalive\n\n'), KEEPALIVE_MS);
    keepalive.unref();
    open.add(raw);
    raw.on('close', () => {
      open.delete(raw);
      clearInterval(keepalive);
      unsubscribe();
    });
  });

  // An event stream never ends by itself: end them so the server can close.
  fastify.addHook('preClose', (done) => {
    for (const raw of open) raw.end();
    done();
  });
};
