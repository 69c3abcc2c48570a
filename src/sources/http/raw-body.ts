/**
 * Keeps the bytes of a request body beside the parsed one, for rules on what was written
 * (json-literal.ts). A route opts in with `preParsing: keepRawBody`; the bytes are those the
 * body parser reads, at most the body limit (a longer body is refused with 413 anyway).
 */
import { Transform, pipeline, type Readable, type TransformCallback } from 'node:stream';
import type { FastifyRequest } from 'fastify';

const kept = new WeakMap<FastifyRequest, Buffer[]>();

type Payload = Readable & { receivedEncodedLength?: number };

class Recorder extends Transform {
  private size = 0;

  constructor(
    private readonly upstream: Payload,
    private readonly chunks: Buffer[],
    private readonly limit: number,
  ) {
    super();
  }

  /** Fastify checks Content-Length against what an earlier preParsing stage (decompression) received. */
  get receivedEncodedLength(): number | undefined {
    return this.upstream.receivedEncodedLength;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.size <= this.limit) {
      this.chunks.push(chunk);
      this.size += chunk.length;
    }
    callback(null, chunk);
  }
}

export async function keepRawBody(request: FastifyRequest, _reply: unknown, payload: Payload): Promise<Payload> {
  const chunks: Buffer[] = [];
  kept.set(request, chunks);
  const recorder = new Recorder(payload, chunks, request.routeOptions.bodyLimit);
  // Errors reach the parser through the recorder; the callback only stops an unhandled rejection.
  pipeline(payload, recorder, () => {});
  return recorder;
}

/** The body as text in the charset its Content-Type names (UTF-8 by default); undefined if not kept or the charset is unknown. */
export function rawBodyText(request: FastifyRequest): string | undefined {
  const chunks = kept.get(request);
  if (!chunks) return undefined;
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(request.headers['content-type'] ?? '')?.[1] ?? 'utf-8';
  try {
    return new TextDecoder(charset).decode(Buffer.concat(chunks));
  } catch {
    return undefined;
  }
}
