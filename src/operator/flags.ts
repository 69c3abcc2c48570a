/**
 * The operator commands' flags (contract 15): `-o`, `-w`, `--server`, `--token`, the TLS files and each
 * command's own, -> OperatorOptions, or a UsageError whose message starts with the offending
 * flag (exit 2, one line). The token is never put in a message.
 */
import { parseArgs } from 'node:util';
import { Ajv } from 'ajv';
import { UsageError } from '../usage-error.js';
import { EventsQuery, MaintenanceBody } from '../sources/http/operator-schemas.js';
import { describeErrors } from '../sources/http/validation-errors.js';
import { readClientTls, type ClientTls } from './client-tls.js';
import type { OperatorCommand } from './names.js';

export { OPERATOR_COMMANDS, isOperatorCommand, type OperatorCommand } from './names.js';

export const OUTPUT_FORMATS = ['table', 'wide', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export const DEFAULT_SERVER = 'http://127.0.0.1:8082';
export const DEFAULT_TIMEOUT_SECONDS = 5;

export interface OperatorOptions {
  readonly command: OperatorCommand;
  /** The API's base URL, ending in a slash (a path prefix kept). */
  readonly server: URL;
  readonly token: string | undefined;
  /** --cacert, --cert, --key (or their SHARDVOY_ variables), read: for an API on TLS. */
  readonly tls: ClientTls | undefined;
  readonly output: OutputFormat;
  readonly watch: boolean;
  /** drain, undrain, forget: the node. */
  readonly id: string | undefined;
  /** drain --reason. */
  readonly reason: string | undefined;
  /** events --since. */
  readonly since: number | undefined;
  readonly timeoutMs: number;
}

export type OperatorInvocation = { readonly help: true; readonly command: OperatorCommand } | { readonly help: false; readonly options: OperatorOptions };

const OPTIONS = {
  output: { type: 'string', short: 'o' },
  watch: { type: 'boolean', short: 'w' },
  server: { type: 'string' },
  token: { type: 'string' },
  cacert: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  reason: { type: 'string' },
  since: { type: 'string' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;
type Flag = keyof typeof OPTIONS;

const COMMON: readonly Flag[] = ['output', 'server', 'token', 'cacert', 'cert', 'key', 'timeout', 'help'];
const OWN: Readonly<Record<OperatorCommand, readonly Flag[]>> = {
  status: ['watch'],
  nodes: ['watch'],
  clients: ['watch'],
  events: ['watch', 'since'],
  drain: ['reason'],
  undrain: [],
  forget: [],
  check: [],
};
const TAKES_ID = new Set<OperatorCommand>(['drain', 'undrain', 'forget']);

const ajv = new Ajv({ allErrors: true, verbose: true });
const validMaintenance = ajv.compile(MaintenanceBody);
const validEventsQuery = ajv.compile(EventsQuery);

/** `argv` is what follows the command's name. */
export function parseOperatorArgs(command: OperatorCommand, argv: readonly string[], env: NodeJS.ProcessEnv): OperatorInvocation {
  const { values, positionals, tokens } = parseFlags(argv);
  if (values.help) return { help: true, command };
  const allowed = new Set<Flag>([...COMMON, ...OWN[command]]);
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const name = token.name as Flag;
    if (!allowed.has(name)) throw new UsageError(`${token.rawName}: ${command} does not take it${name === 'watch' ? ' (-w is for status, nodes, clients and events)' : ''}`);
    if (tokens.filter((t) => t.kind === 'option' && t.name === name).length > 1) throw new UsageError(`${token.rawName}: given more than once`);
  }

  let id: string | undefined;
  if (TAKES_ID.has(command)) {
    if (positionals.length === 0) throw new UsageError(`${command}: the node's id is required (shardvoy ${command} ID)`);
    if (positionals.length > 1) throw new UsageError(`${command}: unexpected argument "${positionals[1]}": one node at a time`);
    id = positionals[0]!;
    // Any id the registry may hold (a DKV node's is its address, brackets and all); no control characters.
    if (id === '' || id.length > 256 || /[\u0000-\u001f\u007f/]/.test(id)) throw new UsageError(`${command}: "${printable(id)}" is not a node id`);
  } else if (positionals.length > 0) {
    throw new UsageError(`${command}: unexpected argument "${positionals[0]}"`);
  }

  const output = values.output ?? 'table';
  if (!(OUTPUT_FORMATS as readonly string[]).includes(output)) throw new UsageError(`-o: "${output}" is not one of ${OUTPUT_FORMATS.join(', ')}`);

  const reason = values.reason;
  if (reason !== undefined && !validMaintenance({ reason })) throw new UsageError(`--reason: ${describeErrors('', validMaintenance.errors ?? []).replace(/^\.reason: /, '')}`);

  const since = values.since;
  if (since !== undefined && !validEventsQuery({ since })) throw new UsageError(`--since: "${since}" is not an event id (a whole number)`);

  const server = parseServer(values.server ?? (env.SHARDVOY_SERVER || DEFAULT_SERVER), values.server !== undefined ? '--server' : 'SHARDVOY_SERVER');
  const files = { cacert: file(values.cacert, '--cacert', env.SHARDVOY_CACERT, 'SHARDVOY_CACERT'), cert: file(values.cert, '--cert', env.SHARDVOY_CERT, 'SHARDVOY_CERT'), key: file(values.key, '--key', env.SHARDVOY_KEY, 'SHARDVOY_KEY') };
  const given = files.cacert ?? files.cert ?? files.key;
  if (given && server.protocol !== 'https:') throw new UsageError(`${given.from}: the server is ${server.protocol}//; TLS files are for an https:// server`);

  return {
    help: false,
    options: {
      command,
      server,
      token: parseToken(values.token, env.SHARDVOY_TOKEN),
      tls: readClientTls(files),
      output: output as OutputFormat,
      watch: values.watch === true,
      id,
      reason,
      since: since === undefined ? undefined : Number(since),
      timeoutMs: values.timeout === undefined ? DEFAULT_TIMEOUT_SECONDS * 1000 : parseTimeout(values.timeout),
    },
  };
}

/** A file named by its flag, else by its environment variable (empty: not given). */
function file(flagValue: string | undefined, flag: string, envValue: string | undefined, envName: string) {
  if (flagValue !== undefined) {
    if (flagValue === '') throw new UsageError(`${flag}: needs a file`);
    return { path: flagValue, from: flag };
  }
  return envValue ? { path: envValue, from: envName } : undefined;
}

function parseFlags(argv: readonly string[]) {
  try {
    return parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true, tokens: true });
  } catch (error) {
    // node:util quotes the flag ('--bogus', '-o, --output <value>'); lead with it, as the other commands do.
    const message = (error as Error).message;
    const flag = /'(-[^' ,]+)/.exec(message)?.[1];
    const code = (error as NodeJS.ErrnoException).code;
    if (flag && code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`${flag}: unknown flag`);
    if (flag && /argument missing|ambiguous/.test(message)) throw new UsageError(`${flag}: needs a value`);
    if (flag && /does not take an argument/.test(message)) throw new UsageError(`${flag}: takes no value`);
    throw new UsageError(message);
  }
}

/** The API's base URL; `from` names where it came from, for the message. */
export function parseServer(text: string, from: string): URL {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new UsageError(`${from}: "${printable(text)}" is not a URL (http://HOST:PORT)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${from}: "${printable(text)}" is not an http:// or https:// URL`);
  if (url.username !== '' || url.password !== '') throw new UsageError(`${from}: "${url.host}": credentials in the URL are not supported; use --token or SHARDVOY_TOKEN`);
  if (url.search !== '' || url.hash !== '') throw new UsageError(`${from}: "${printable(text)}": no query or fragment, only the server's base URL`);
  return new URL(url.href.replace(/([^/])$/, '$1/'));
}

function parseToken(flag: string | undefined, env: string | undefined): string | undefined {
  if (flag !== undefined) {
    if (flag.trim() === '') throw new UsageError('--token: is empty');
    if (/\s/.test(flag.trim())) throw new UsageError('--token: holds white space (give the token alone, without "Bearer")');
    return flag.trim();
  }
  if (env === undefined || env.trim() === '') return undefined;
  if (/\s/.test(env.trim())) throw new UsageError('SHARDVOY_TOKEN: holds white space (give the token alone, without "Bearer")');
  return env.trim();
}

function parseTimeout(text: string): number {
  const seconds = /^[0-9]+(\.[0-9]+)?$/.test(text) ? Number(text) : NaN;
  if (!(seconds > 0) || seconds > 3600) throw new UsageError(`--timeout: "${text}" is not a number of seconds above 0 (at most 3600)`);
  return seconds * 1000;
}

function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, '?');
}
