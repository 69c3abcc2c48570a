/**
 * The operator commands' side of the HTTP API: JSON reads and writes with the bearer token, the
 * event stream (Server-Sent Events), and failures as one line naming the request and why
 * (ApiError: exit 2). The token is sent, never shown.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { Ajv, type ValidateFunction } from 'ajv';
import { describeFetchError } from '../agent/node-query.js';
import { EventReply } from '../sources/http/response-schemas.js';
import { describeErrors } from '../sources/http/validation-errors.js';
import { fetch as undiciFetch } from 'undici';
import { VERSION } from '../version.js';
import { tlsDispatcher, type ClientTls } from './client-tls.js';
import { apiErrorMessage } from '../util/api-error-message.js';

/** An event as GET /v1/events and its stream send it. */
export type EventJson = Static<typeof EventReply>;

// The API's own response schemas (response-schemas.ts, the source of /openapi.json): their
// objects are open, so a newer server's extra fields pass. Formats are documentation here.
const ajv = new Ajv({ allErrors: true, verbose: true, validateFormats: false });
const validators = new WeakMap<TSchema, ValidateFunction>();
function validator(schema: TSchema): ValidateFunction {
  let validate = validators.get(schema);
  if (!validate) validators.set(schema, (validate = ajv.compile(schema)));
  return validate;
}

/** Talking to the server failed: no connection, an error status, an answer that is not one. */
export class ApiError extends Error {
  constructor(
    message: string,
    /** The HTTP status, when there was one. */
    readonly statusCode?: number,
  ) {
    super(message);
  }
}

export interface Answer {
  readonly status: number;
  readonly body: unknown;
}

export type StreamEnd = { readonly kind: 'ended' } | { readonly kind: 'no-stream'; readonly status: number };

export class ApiClient {
  /**
   * Node's fetch, or, with TLS files, undici's own fetch with an Agent holding them: an Agent of
   * the undici package is only sure to work with the fetch of the same package.
   */
  private readonly fetch: typeof globalThis.fetch;
  private readonly withClientCert: boolean;

  constructor(
    readonly server: URL,
    private readonly token: string | undefined,
    private readonly timeoutMs: number,
    tls?: ClientTls,
  ) {
    if (tls) {
      const dispatcher = tlsDispatcher(tls);
      this.fetch = ((input: URL, init: RequestInit) => undiciFetch(input, { ...init, dispatcher } as never)) as unknown as typeof globalThis.fetch;
    } else {
      this.fetch = globalThis.fetch;
    }
    this.withClientCert = tls?.cert !== undefined;
  }

  /** GET a JSON answer, checked against the route's response schema; anything but 2xx is an ApiError. */
  async get<S extends TSchema>(path: string, schema: S): Promise<Static<S>> {
    return this.checked('GET', path, schema, await this.json('GET', path));
  }

  async send<S extends TSchema>(method: 'PUT' | 'DELETE', path: string, schema: S, body?: unknown): Promise<Static<S>> {
    return this.checked(method, path, schema, await this.json(method, path, body));
  }

  /** GET whose error statuses are data too (/readyz answers 503 with the reason). */
  async getAnswer(path: string, accepted: readonly number[]): Promise<Answer> {
    const { response, text } = await this.request('GET', path);
    if (!response.ok && !accepted.includes(response.status)) throw this.statusError('GET', path, response.status, text);
    return { status: response.status, body: parseJson('GET', this.url(path), response.status, text) };
  }

  async getText(path: string): Promise<string> {
    const { response, text } = await this.request('GET', path);
    if (!response.ok) throw this.statusError('GET', path, response.status, text);
    return text;
  }

  /**
   * GET /v1/events/stream after event `since`: each event to `onEvent` until the stream ends or
   * `signal` aborts. A server without the stream (404, or no event stream) answers no-stream.
   */
  async stream(since: number, onEvent: (event: EventJson) => void, signal: AbortSignal): Promise<StreamEnd> {
    const path = `v1/events/stream?since=${since}`;
    let response: Response;
    try {
      response = await this.fetch(this.url(path), { headers: { ...this.headers(), accept: 'text/event-stream' }, signal });
    } catch (error) {
      if (signal.aborted) return { kind: 'ended' };
      throw this.connectionError('GET', path, error);
    }
    if (response.status === 404 || (response.ok && !String(response.headers.get('content-type')).startsWith('text/event-stream'))) {
      await response.body?.cancel();
      return { kind: 'no-stream', status: response.status };
    }
    if (!response.ok) throw this.statusError('GET', path, response.status, await response.text());
    const decoder = new TextDecoder();
    let buffer = '';
    let data: string[] = [];
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let newline: number;
        while ((newline = buffer.search(/\r?\n/)) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + (buffer[newline] === '\r' ? 2 : 1));
          if (line === '') {
            if (data.length > 0) dispatch(data.join('\n'), onEvent);
            data = [];
          } else if (line.startsWith('data:')) {
            data.push(line.slice(5).replace(/^ /, ''));
          }
          // id:, retry: and comments: the event carries its id itself.
        }
      }
    } catch (error) {
      if (signal.aborted) return { kind: 'ended' };
      throw this.connectionError('GET', path, error);
    }
    return { kind: 'ended' };
  }

  private checked<S extends TSchema>(method: string, path: string, schema: S, answer: unknown): Static<S> {
    const validate = validator(schema);
    if (validate(answer)) return answer as Static<S>;
    throw new ApiError(`${method} ${this.url(path).href}: not an answer of shardvoy's API (is --server shardvoy?): ${excerpt(describeErrors('answer', validate.errors ?? []))}`);
  }

  private async json(method: 'GET' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<unknown> {
    const { response, text } = await this.request(method, path, body);
    if (!response.ok) throw this.statusError(method, path, response.status, text);
    return parseJson(method, this.url(path), response.status, text);
  }

  private async request(method: string, path: string, body?: unknown): Promise<{ response: Response; text: string }> {
    const headers: Record<string, string> = this.headers();
    if (body !== undefined) headers['content-type'] = 'application/json';
    // A timer that holds the process, unlike AbortSignal.timeout's: a fetch left unsettled (undici
    // after some refused TLS handshakes) would otherwise end the process with exit code 13.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new DOMException(`no answer within ${this.timeoutMs} ms`, 'TimeoutError')), this.timeoutMs);
    try {
      const response = await this.fetch(this.url(path), {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        redirect: 'manual',
        signal: controller.signal,
      });
      return { response, text: await response.text() };
    } catch (error) {
      throw this.connectionError(method, path, error);
    } finally {
      clearTimeout(timer);
    }
  }

  private headers(): Record<string, string> {
    const headers: Record<string, string> = { 'user-agent': `shardvoy-cli/${VERSION}`, accept: 'application/json' };
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    return headers;
  }

  private url(path: string): URL {
    return new URL(path, this.server);
  }

  private connectionError(method: string, path: string, error: unknown): ApiError {
    const why = describeFetchError(error, this.timeoutMs);
    // A server that requires client certificates closes a connection that brings none, saying
    // nothing: seen as a closed socket, or as a broken pipe or a reset if the request was going out.
    if (this.server.protocol === 'https:' && ['UND_ERR_SOCKET', 'EPIPE', 'ECONNRESET'].includes(why)) {
      const hint = this.withClientCert
        ? 'if it asks for client certificates, is the one given (--cert or SHARDVOY_CERT) signed by the CA it trusts (http.tls.ca)?'
        : 'if it asks for client certificates (http.tls.requireClientCert), give one with --cert and --key (or SHARDVOY_CERT and SHARDVOY_KEY)';
      return new ApiError(`${method} ${this.url(path).href}: the server closed the TLS connection (${why}); ${hint}`);
    }
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(why)) {
      return new ApiError(`${method} ${this.url(path).href}: the server's TLS certificate is not trusted (${why}); for a private CA, give its file with --cacert (or SHARDVOY_CACERT)`);
    }
    return new ApiError(`${method} ${this.url(path).href}: cannot reach the server (${why}); is shardvoy listening there? (--server or SHARDVOY_SERVER, default http://127.0.0.1:8082)`);
  }

  private statusError(method: string, path: string, status: number, text: string): ApiError {
    const where = `${method} ${this.url(path).href}`;
    const message = apiErrorMessage(text, excerpt);
    if (status === 401) {
      const hint = this.token === undefined ? 'give one with --token or SHARDVOY_TOKEN' : 'the token given (--token or SHARDVOY_TOKEN) was refused';
      return new ApiError(`${where}: 401 Unauthorized: ${message}; ${hint}`, status);
    }
    return new ApiError(`${where}: ${status}${status >= 300 && status < 400 ? ' (a redirect: give the API\'s own URL with --server)' : ''}: ${message}`, status);
  }
}

function dispatch(data: string, onEvent: (event: EventJson) => void): void {
  let event: unknown;
  try {
    event = JSON.parse(data);
  } catch {
    return; // Not one of shardvoy's events; a proxy's noise.
  }
  if (validator(EventReply)(event)) onEvent(event as EventJson);
}

function parseJson(method: string, url: URL, status: number, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(`${method} ${url.href}: ${status} with a body that is not JSON (is --server shardvoy's HTTP API?): ${excerpt(text.trim())}`, status);
  }
}

function excerpt(text: string): string {
  const line = text.replace(/\s*\n\s*/g, ' ');
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
