/**
 * Keeps a JSON body's text beside the parsed body, for rules on what was written
 * (json-literal.ts). Installed in one route plugin's own context: the app's JSON parser, with the
 * app's own poisoning settings, parses as before; only the text is kept as well. Content-Encoding
 * and charset are settled before parsing (body-decoding.ts), so the text is the UTF-8 that was
 * parsed. Cheaper than recording the body stream: the parser reads it as one string anyway.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

const texts = new WeakMap<FastifyRequest, string>();

export function keepJsonText(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser(app.initialConfig.onProtoPoisoning ?? 'error', app.initialConfig.onConstructorPoisoning ?? 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    texts.set(request, body as string);
    parse(request, body as string, done);
  });
}

/** The body's JSON text, if this route keeps it (keepJsonText) and the request had one. */
export function jsonTextOf(request: FastifyRequest): string | undefined {
  return texts.get(request);
}
