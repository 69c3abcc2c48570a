/**
 * `shardvoy agent` flags (contract 13) -> AgentOptions, or a UsageError whose message starts with
 * the offending flag (the CLI prints it on one line and exits 2). The node's fields are checked by
 * the heartbeat route's own schema and rules, so a flag the server would refuse never starts.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Ajv } from 'ajv';
import { LOG_LEVELS, UsageError } from '../usage-error.js';
import { HeartbeatError, toHeartbeat } from '../sources/http/heartbeat-body.js';
import { HeartbeatBody } from '../sources/http/schemas.js';
import { describeErrors } from '../sources/http/validation-errors.js';
import { parseTemplate, TemplateError, type Template } from './template.js';

export type ProbeSpec = { kind: 'tcp' } | { kind: 'http'; url: string } | { kind: 'exec'; command: string };
export type RoleSource = { kind: 'http'; url: string } | { kind: 'exec'; command: string };
export type TokenSource = { kind: 'inline'; token: string } | { kind: 'file'; path: string };

export interface TemplateSpec {
  readonly input: string;
  readonly output: string;
  readonly template: Template;
}

export interface AgentServer {
  /** As given, for logs (credentials are refused, so nothing secret). */
  readonly label: string;
  readonly heartbeatUrl: URL;
}

export interface AgentOptions {
  readonly servers: readonly AgentServer[];
  /** The heartbeat as the flags give it; status, and role and epoch under --role-from, are the agent's to fill in. */
  readonly node: HeartbeatBody & { readonly id: string; readonly role: 'master' | 'replica' };
  readonly probe: ProbeSpec;
  readonly roleFrom: RoleSource | undefined;
  readonly advertisedFile: string | undefined;
  readonly templates: readonly TemplateSpec[];
  readonly waitAdvertised: boolean;
  readonly token: TokenSource | undefined;
  /** --interval: seconds between heartbeats instead of a third of the lease. */
  readonly intervalSeconds: number | undefined;
  readonly logLevel: string;
}

export type AgentCommand = { readonly command: 'agent-help' } | { readonly command: 'agent'; readonly options: AgentOptions };

const OPTIONS = {
  server: { type: 'string', multiple: true },
  id: { type: 'string' },
  address: { type: 'string' },
  database: { type: 'string' },
  shard: { type: 'string' },
  role: { type: 'string' },
  dc: { type: 'string' },
  epoch: { type: 'string' },
  label: { type: 'string', multiple: true },
  probe: { type: 'string' },
  'role-from': { type: 'string' },
  'advertised-file': { type: 'string' },
  template: { type: 'string', multiple: true },
  'wait-advertised': { type: 'boolean' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  interval: { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const REQUIRED = ['server', 'id', 'address', 'database', 'shard', 'role'] as const;
const REPEATABLE = new Set(['server', 'label', 'template']);

const ajv = new Ajv({ coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: true, verbose: true });
const validBody = ajv.compile<HeartbeatBody>(HeartbeatBody);

/** `argv` is what follows `shardvoy agent`. */
export function parseAgentArgs(argv: readonly string[], env: NodeJS.ProcessEnv): AgentCommand {
  const { values, positionals, tokens } = parseFlags(argv);
  if (values.help) return { command: 'agent-help' };
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  for (const name of Object.keys(OPTIONS)) {
    if (REPEATABLE.has(name)) continue;
    if (tokens.filter((t) => t.kind === 'option' && t.name === name).length > 1) throw new UsageError(`--${name}: given more than once`);
  }
  for (const name of REQUIRED) if (values[name] === undefined) throw new UsageError(`--${name}: is required`);

  const servers = parseServers(values.server!);
  const labels = parseLabels(values.label ?? []);
  const epoch = values.epoch;
  if (epoch !== undefined && !/^(0|[1-9][0-9]*)$/.test(epoch)) throw new UsageError(`--epoch: "${epoch}" is not a whole number (0..2^53-1)`);
  const node = checkNode({
    id: values.id!,
    address: values.address!,
    database: values.database!,
    shard: values.shard!,
    role: values.role! as 'master' | 'replica',
    ...(values.dc === undefined ? {} : { dc: values.dc }),
    ...(epoch === undefined ? {} : { epoch: Number(epoch) }),
    ...(labels === undefined ? {} : { labels }),
  }, epoch);

  const advertisedFile = values['advertised-file'] === undefined ? undefined : outputPath('--advertised-file', values['advertised-file']);
  const templates = (values.template ?? []).map((spec) => parseTemplateSpec(spec));
  const outputs = [...(advertisedFile === undefined ? [] : [advertisedFile]), ...templates.map((t) => t.output)];
  const twice = outputs.find((file, i) => outputs.indexOf(file) !== i);
  if (twice !== undefined) throw new UsageError(`--template: ${twice} is written twice (by --advertised-file or another --template)`);
  const waitAdvertised = values['wait-advertised'] ?? false;
  if (waitAdvertised && outputs.length === 0) throw new UsageError('--wait-advertised: needs --advertised-file or --template, to say what to wait for');

  const logLevel = values['log-level'] ?? env.SHARDVOY_LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new UsageError(`--log-level: "${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);

  return {
    command: 'agent',
    options: {
      servers,
      node,
      probe: values.probe === undefined ? { kind: 'tcp' } : parseProbe(values.probe),
      roleFrom: values['role-from'] === undefined ? undefined : parseRoleFrom(values['role-from']),
      advertisedFile,
      templates,
      waitAdvertised,
      token: parseToken(values.token, values['token-file']),
      intervalSeconds: values.interval === undefined ? undefined : parseInterval(values.interval),
      logLevel,
    },
  };
}

function parseFlags(argv: readonly string[]) {
  try {
    return parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true, tokens: true });
  } catch (error) {
    // node:util's messages quote the flag ('--bogus', '--server <value>'); lead with it, as everywhere else.
    const message = (error as Error).message;
    const flag = /'(-[^' ]+)/.exec(message)?.[1];
    const code = (error as NodeJS.ErrnoException).code;
    if (flag && code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`${flag}: unknown flag`);
    if (flag && /argument missing|ambiguous/.test(message)) throw new UsageError(`${flag}: needs a value`);
    if (flag && /does not take an argument/.test(message)) throw new UsageError(`${flag}: takes no value`);
    throw new UsageError(message);
  }
}

function parseServers(given: readonly string[]): AgentServer[] {
  const servers: AgentServer[] = [];
  for (const text of given.flatMap((list) => list.split(','))) {
    const label = text.trim();
    if (label === '') throw new UsageError('--server: an empty URL in the list');
    let url: URL;
    try {
      url = new URL(label);
    } catch {
      throw new UsageError(`--server: "${label}" is not a URL (http://HOST:PORT)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--server: "${label}" is not an http:// or https:// URL`);
    // They would end up in logs; the token has its own flags.
    if (url.username !== '' || url.password !== '') throw new UsageError(`--server: "${url.host}": credentials in the URL are not supported; use --token or --token-file`);
    if (url.search !== '' || url.hash !== '') throw new UsageError(`--server: "${label}": no query or fragment, only the server's base URL`);
    // The base URL; the heartbeat's own URL, given by mistake, is taken as meant.
    const base = new URL(url.href.replace(/\/v1\/heartbeat\/?$/, '/').replace(/([^/])$/, '$1/'));
    servers.push({ label, heartbeatUrl: new URL('v1/heartbeat', base) });
  }
  return servers;
}

function parseLabels(given: readonly string[]): Record<string, string> | undefined {
  if (given.length === 0) return undefined;
  const labels: Record<string, string> = {};
  for (const pair of given) {
    const equals = pair.indexOf('=');
    if (equals <= 0) throw new UsageError(`--label: "${pair}" is not key=value`);
    const key = pair.slice(0, equals);
    if (Object.hasOwn(labels, key)) throw new UsageError(`--label: "${key}" given twice`);
    labels[key] = pair.slice(equals + 1);
  }
  return labels;
}

/** The node by the heartbeat route's own rules (schema, then toHeartbeat), messages led by the flag. */
function checkNode(body: HeartbeatBody & { id: string; role: 'master' | 'replica' }, epochText: string | undefined) {
  if (!validBody(body)) {
    throw new UsageError(flagMessage(describeErrors('', validBody.errors ?? [])));
  }
  try {
    toHeartbeat(body, { epoch: epochText }, '');
  } catch (error) {
    if (error instanceof HeartbeatError) throw new UsageError(flagMessage(error.message));
    throw error;
  }
  return body;
}

/** `.shard: must match …` -> `--shard: must match …`; `.labels.rack: …` -> `--label rack: …`. */
function flagMessage(text: string): string {
  return text
    .split('; ')
    .map((part) => part.replace(/^\.labels\./, '--label ').replace(/^\.labels:/, '--label:').replace(/^\.([a-z]+)/, '--$1'))
    .join('; ');
}

function parseProbe(text: string): ProbeSpec {
  if (text === 'tcp') return { kind: 'tcp' };
  const spec = httpOrExec('--probe', text, 'tcp, http://…, https://… or exec:COMMAND');
  return spec;
}

function parseRoleFrom(text: string): RoleSource {
  return httpOrExec('--role-from', text, 'http://…, https://… or exec:COMMAND');
}

function httpOrExec(flag: string, text: string, expected: string): RoleSource {
  if (text.startsWith('exec:')) {
    const command = text.slice('exec:'.length).trim();
    if (command === '') throw new UsageError(`${flag}: exec: needs a command`);
    return { kind: 'exec', command };
  }
  if (/^https?:\/\//.test(text)) {
    try {
      return { kind: 'http', url: new URL(text).href };
    } catch {
      throw new UsageError(`${flag}: "${text}" is not a URL`);
    }
  }
  throw new UsageError(`${flag}: "${text}" is not one of ${expected}`);
}

/** A file the agent will write: its folder must exist, and it must not be a folder itself. */
function outputPath(flag: string, file: string): string {
  if (file === '') throw new UsageError(`${flag}: an empty path`);
  const resolved = path.resolve(file);
  const dir = path.dirname(resolved);
  if (!isDirectory(dir)) throw new UsageError(`${flag}: ${file}: folder ${dir} does not exist`);
  if (isDirectory(resolved)) throw new UsageError(`${flag}: ${file} is a folder`);
  return resolved;
}

function parseTemplateSpec(spec: string): TemplateSpec {
  // IN:OUT, split at the first colon (so IN cannot hold one, as with docker -v).
  const colon = spec.indexOf(':');
  if (colon <= 0 || colon === spec.length - 1) throw new UsageError(`--template: "${spec}" is not IN:OUT`);
  const input = path.resolve(spec.slice(0, colon));
  const output = outputPath('--template', spec.slice(colon + 1));
  if (input === output) throw new UsageError(`--template: ${spec}: IN and OUT are the same file`);
  let text: string;
  try {
    text = readFileSync(input, 'utf8');
  } catch (error) {
    throw new UsageError(`--template: cannot read ${spec.slice(0, colon)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  try {
    return { input, output, template: parseTemplate(text) };
  } catch (error) {
    if (error instanceof TemplateError) throw new UsageError(`--template: ${spec.slice(0, colon)}: ${error.message}`);
    throw error;
  }
}

function parseToken(token: string | undefined, file: string | undefined): TokenSource | undefined {
  if (token !== undefined && file !== undefined) throw new UsageError('--token-file: give --token or --token-file, not both');
  if (token !== undefined) {
    // The value itself is never echoed: it is a secret.
    if (token.trim() === '') throw new UsageError('--token: is empty');
    return { kind: 'inline', token: token.trim() };
  }
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`--token-file: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (text.trim() === '') throw new UsageError(`--token-file: ${file} is empty`);
  return { kind: 'file', path: file };
}

function parseInterval(text: string): number {
  const seconds = /^[0-9]+(\.[0-9]+)?$/.test(text) ? Number(text) : NaN;
  if (!(seconds > 0) || seconds > 86_400) throw new UsageError(`--interval: "${text}" is not a number of seconds above 0 (at most 86400)`);
  return seconds;
}

function isDirectory(file: string): boolean {
  try {
    return statSync(file).isDirectory();
  } catch {
    return false;
  }
}

