/**
 * How the bytes of a request body become the text the JSON parser reads: its Content-Encoding is
 * undone (gzip, deflate; identity passes through), with the body limit applying to the decoded
 * bytes as well, and only UTF-8 is read. An app-wide preParsing hook, so it runs before any
 * route's own (raw-body.ts) and after authentication (onRequest).
 */
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { createGunzip, createInflate, type Gunzip, type Inflate } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';

type Payload = Readable & { receivedEncodedLength?: number };

const DECODERS: Readonly<Record<string, () => Gunzip | Inflate>> = {
  gzip: createGunzip,
  'x-gzip': createGunzip, // RFC 9110: to be read as gzip
  deflate: createInflate,
};
const SUPPORTED = 'gzip, deflate, identity';

/** A refusal the app's error handler sends as {statusCode, error, message}. */
class BodyError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export function decodeBody(limit: number) {
  return async function decodeBodyHook(request: FastifyRequest, reply: FastifyReply, payload: Payload): Promise<Payload> {
    if (!hasBody(request)) return payload;
    const charset = charsetOf(request.headers['content-type']);
    if (charset !== undefined && charset.toLowerCase() !== 'utf-8') {
      throw new BodyError(415, `content-type: charset "${charset}" is not supported; the body must be UTF-8`);
    }
    const codings = contentCodings(request.headers['content-encoding']);
    const unsupported = codings.find((coding) => !(coding in DECODERS));
    if (unsupported !== undefined) {
      // RFC 9110 15.5.16: a 415 for a content coding says which codings would do.
      reply.header('accept-encoding', SUPPORTED);
      throw new BodyError(415, `content-encoding: "${unsupported}" is not supported (gzip, deflate or identity)`);
    }
    return codings.length === 0 ? payload : decoded(payload, codings, limit);
  };
}

/** As Fastify decides whether to parse a body at all. */
function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function charsetOf(contentType: string | undefined): string | undefined {
  return /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(contentType ?? '')?.[1];
}

/** The codings in the order they were applied, identity left out. */
function contentCodings(header: string | string[] | undefined): string[] {
  const values = Array.isArray(header) ? header.join(',') : (header ?? '');
  return values
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
}

function decoded(payload: Payload, codings: readonly string[], limit: number): Payload {
  const body = new LimitedBody(limit, codings.join(', '));
  payload.on('data', (chunk: Buffer) => (body.receivedEncodedLength += chunk.length));
  let stream: Readable = payload;
  // The last coding applied is undone first.
  for (const coding of [...codings].reverse()) {
    const decoder = DECODERS[coding]!();
    decoder.on('error', (error) => body.destroy(new BodyError(400, `content-encoding: the body is not valid ${coding} (${error.message})`)));
    body.on('close', () => decoder.destroy());
    stream = stream.pipe(decoder);
  }
  body.on('close', () => payload.unpipe());
  stream.pipe(body);
  return body;
}

/** Stops decoding as soon as the decoded body passes the limit: a small zip bomb never inflates. */
class LimitedBody extends Transform {
  /** Read by Fastify to check Content-Length against the bytes received on the wire. */
  receivedEncodedLength = 0;
  private decodedLength = 0;

  constructor(
    private readonly limit: number,
    private readonly codings: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.decodedLength += chunk.length;
    if (this.decodedLength > this.limit) {
      callback(new BodyError(413, `body: larger than ${this.limit} bytes once decoded (content-encoding: ${this.codings})`));
      return;
    }
    callback(null, chunk);
  }
}
