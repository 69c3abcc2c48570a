/**
 * Every response the HTTP tests receive, checked against the app's own GET /openapi.json: the
 * route is in the document, the status is one it lists for the route, the content-type one it
 * lists for that status, the headers it lists are sent, and a JSON body validates against the
 * schema. An object schema that lists properties is closed for the check (the document leaves
 * them open for clients), so a field the code sends without documenting it fails the tests too.
 *
 * Mismatches are collected, not thrown (an onSend hook that throws would change the response
 * under test); test/support/openapi-setup.ts fails the test that received one.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';
import type { App } from '../../src/sources/http/app.js';
import { hiddenFromDocument } from '../../src/sources/http/openapi.js';

const mismatches: string[] = [];

/** The mismatches found since the last call, emptied. */
export function takeMismatches(): string[] {
  return mismatches.splice(0);
}

type Json = Record<string, any>;

/** `/v1/nodes/:id` -> `/v1/nodes/{id}` and `/x/*` -> `/x/{*}`, as @fastify/swagger writes them. */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\*$/, '{*}');
}

/** A copy of a schema with every object that lists properties closed, and refs to components moved to $defs. */
function forCheck(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(forCheck);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Json = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === '$ref' && typeof value === 'string') out[key] = value.replace('#/components/schemas/', '#/$defs/');
    else if (key === 'properties' || key === '$defs' || key === 'patternProperties') {
      out[key] = Object.fromEntries(Object.entries(value as Json).map(([name, sub]) => [name, forCheck(sub)]));
    } else out[key] = forCheck(value);
  }
  if (out.properties !== undefined && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

export class Checker {
  private readonly ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, allowUnionTypes: true });
  private readonly defs: Json;
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(readonly doc: Json) {
    this.ajv.addFormat('date-time', (value: string) => ISO_TIME.test(value) && !Number.isNaN(Date.parse(value)));
    this.defs = forCheck(doc.components?.schemas ?? {}) as Json;
  }

  /** Validates `body` against the schema at `where` in the document, compiled once. */
  validate(where: string, schema: unknown, body: unknown): string | undefined {
    let validate = this.validators.get(where);
    if (!validate) {
      validate = this.ajv.compile({ $defs: this.defs, ...(forCheck(schema) as Json) });
      this.validators.set(where, validate);
    }
    if (validate(body)) return undefined;
    return this.ajv.errorsText(validate.errors, { dataVar: 'body', separator: '; ' });
  }
}

const checkers = new WeakMap<object, Checker>();

/** The checker of a document, built once per document object. */
export function checkerFor(doc: Json): Checker {
  let checker = checkers.get(doc);
  if (!checker) {
    checker = new Checker(doc);
    checkers.set(doc, checker);
  }
  return checker;
}

export interface CheckedResponse {
  readonly method: string;
  /** The route's path as registered (`/v1/nodes/:id`), or undefined when no route matched. */
  readonly route: string | undefined;
  /** Swagger UI's own routes (schema.hide) and the dashboard's (hiddenFromDocument): not in the document, not checked. */
  readonly hidden: boolean;
  readonly statusCode: number;
  readonly headers: Record<string, unknown>;
  readonly payload: unknown;
}

/** What is wrong with a response by the document, or [] if nothing. */
export function problemsOf(checker: Checker, response: CheckedResponse): string[] {
  const { doc } = checker;
  const problems: string[] = [];
  const status = String(response.statusCode);
  const contentType = String(response.headers['content-type'] ?? '');
  const mediaType = contentType.split(';')[0]!.trim().toLowerCase();
  const text = typeof response.payload === 'string' ? response.payload : Buffer.isBuffer(response.payload) ? response.payload.toString('utf8') : undefined;
  const parse = (): unknown => {
    try {
      return JSON.parse(text ?? '');
    } catch {
      problems.push(`the body is not JSON: ${(text ?? '').slice(0, 200)}`);
      return undefined;
    }
  };

  if (response.route === undefined) {
    // No route: the not-found handler or the router's own errors, in the API's error shape.
    if (response.statusCode < 400) problems.push(`status ${status} without a route`);
    else if (mediaType !== 'application/json') problems.push(`content-type ${contentType} for an error`);
    else {
      const body = parse();
      const problem = problems.length ? undefined : checker.validate('#/components/schemas/Error', { $ref: '#/components/schemas/Error' }, body);
      if (problem) problems.push(problem);
    }
    return problems;
  }
  if (response.hidden) return problems;

  const path = openApiPath(response.route);
  const method = response.method === 'HEAD' ? 'get' : response.method.toLowerCase();
  const operation = doc.paths?.[path]?.[method];
  if (!operation) return [`${response.method} ${path} is not in the document`];
  const documented = operation.responses?.[status];
  if (!documented) return [`status ${status} is not among those the document lists (${Object.keys(operation.responses ?? {}).join(', ')})`];

  for (const header of Object.keys(documented.headers ?? {})) {
    if (response.headers[header.toLowerCase()] === undefined) problems.push(`header ${header} (documented for ${status}) was not sent`);
  }
  // HEAD answers have no body to check.
  if (response.method === 'HEAD') return problems;
  const content = documented.content as Json | undefined;
  if (!content) {
    if (text !== undefined && text !== '') problems.push(`a body, where the document lists none for ${status}`);
    return problems;
  }
  const media = content[mediaType];
  if (!media) return [...problems, `content-type ${contentType || '(none)'} is not among those the document lists for ${status} (${Object.keys(content).join(', ')})`];
  if (mediaType.includes('json')) {
    const body = parse();
    if (problems.length === 0) {
      const problem = checker.validate(`${method} ${path} ${status} ${mediaType}`, media.schema, body);
      if (problem) problems.push(problem);
    }
  } else if (text === undefined && response.payload !== undefined && typeof (response.payload as { pipe?: unknown }).pipe !== 'function') {
    problems.push(`a ${mediaType} body that is not text`);
  }
  return problems;
}

/** The hook: BuildOptions.beforeRoutes of buildApp, so it reaches every route. */
export function checkResponsesAgainstOpenApi(app: App): void {
  app.addHook('onSend', (request, reply, payload, done) => {
    try {
      const route = request.routeOptions.url;
      const response: CheckedResponse = {
        method: request.method,
        route,
        hidden: route !== undefined && ((request.routeOptions.schema as { hide?: boolean } | undefined)?.hide === true || hiddenFromDocument(route)),
        statusCode: reply.statusCode,
        headers: reply.getHeaders(),
        payload,
      };
      const problems = problemsOf(checkerFor(app.swagger() as Json), response);
      if (problems.length > 0) {
        const shown = typeof payload === 'string' ? payload.slice(0, 300) : typeof payload;
        mismatches.push(`${request.method} ${request.url} -> ${reply.statusCode}: ${problems.join('; ')}\n    body: ${shown}`);
      }
    } catch (error) {
      mismatches.push(`${request.method} ${request.url}: the check failed: ${(error as Error).stack ?? String(error)}`);
    }
    done(null, payload);
  });
}
