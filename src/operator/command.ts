/**
 * `shardvoy status|nodes|clients|events|drain|undrain|forget|check` (contract 15): the operator's
 * commands, clients of a running server's HTTP API. Each command's logic is its own module here;
 * this one parses, dispatches, prints and exits.
 * Exit codes: 0 done (check: healthy); 1 check found problems; 2 bad flags, or the server could
 * not be asked or refused (unreachable, 401, 404, …), one line on stderr naming the flag or the
 * request and why.
 */
import { VERSION } from '../version.js';
import { UsageError } from '../usage-error.js';
import { ApiClient, ApiError } from './api-client.js';
import { renderCheck, runCheck } from './check.js';
import { readClients, renderClients } from './clients.js';
import { eventWidths, readEvents, renderEvents, renderWatchedEvent } from './events.js';
import { parseOperatorArgs, type OperatorCommand, type OperatorOptions } from './flags.js';
import { drain, forget, renderDrain, renderForget, renderUndrain, undrain } from './maintenance.js';
import { readNodes, renderNodes } from './nodes.js';
import { readStatus, renderStatus } from './status.js';
import { watchEvents, watchRendering, type WatchIo } from './watch.js';

export const OPERATOR_USAGE = `shardvoy ${VERSION}: the operator's commands, against a running shardvoy's HTTP API

Usage:
  shardvoy status  [-o FORMAT] [-w]   ready or not and why, problems, shards and their master, Envoys
  shardvoy nodes   [-o FORMAT] [-w]   the registry, each node with its health
  shardvoy clients [-o FORMAT] [-w]   the xDS streams, per type SYNCED / STALE / NOT_SENT / ERROR
  shardvoy events  [-o FORMAT] [-w] [--since ID]
                                      the retained events (-w: then each new one)
  shardvoy drain ID [--reason TEXT]   maintenance on: Envoy gets the node as DRAINING
  shardvoy undrain ID                 maintenance off
  shardvoy forget ID                  forget the node now (its next heartbeat registers it again)
  shardvoy check   [-o FORMAT]        exit 0 if healthy, 1 with the reasons if not

  -o, --output FORMAT  table (default), wide (more columns), json or yaml (keys sorted)
  -w, --watch          render again on every event of the server's event stream
  --server URL         the HTTP API (env SHARDVOY_SERVER; default http://127.0.0.1:8082)
  --token TOKEN        bearer token: auth.readToken, or auth.adminToken for drain, undrain and
                       forget (env SHARDVOY_TOKEN); sent, never printed
  --cacert FILE        the CA that signed the server's certificate, for https:// (env SHARDVOY_CACERT)
  --cert FILE, --key FILE
                       a client certificate and its key, for http.tls.requireClientCert
                       (env SHARDVOY_CERT, SHARDVOY_KEY)
  --timeout SECONDS    per request (default 5)

check fails on: not ready (/readyz), a shard without a routable master, self-preservation
engaged, an Envoy in ERROR (NACK) or STALE (still so a second later).
Exit codes: 0 done or healthy, 1 check found problems, 2 bad flags or the server could not be
asked (unreachable, 401, unknown node, …), one line on stderr saying which and why.
`;

type Io = WatchIo;

/** What the command prints and its exit code; under -w, runs until `io.signal` aborts. */
export async function runOperator(options: OperatorOptions, io: Io): Promise<number> {
  const api = new ApiClient(options.server, options.token, options.timeoutMs, options.tls);
  const { output: format, watch } = options;
  switch (options.command) {
    case 'status': {
      const render = async (compact: boolean) => renderStatus(await readStatus(api), format, compact);
      if (watch) await watchRendering(api, format, render, io);
      else io.out(await render(false));
      return 0;
    }
    case 'nodes': {
      const render = async (compact: boolean) => renderNodes(await readNodes(api), format, Date.now(), compact);
      if (watch) await watchRendering(api, format, render, io);
      else io.out(await render(false));
      return 0;
    }
    case 'clients': {
      const render = async (compact: boolean) => renderClients(await readClients(api), format, Date.now(), compact);
      if (watch) await watchRendering(api, format, render, io);
      else io.out(await render(false));
      return 0;
    }
    case 'events': {
      const answer = await readEvents(api, options.since);
      const now = Date.now();
      if (!watch) {
        io.out(renderEvents(answer, format, now));
        return 0;
      }
      const widths = eventWidths(answer, format, now);
      if (format === 'table' || format === 'wide') io.out(renderEvents(answer, format, now));
      else for (const event of answer.events) io.out(renderWatchedEvent(event, format, now, widths));
      const since = Math.max(answer.latestId, answer.events.at(-1)?.id ?? 0);
      await watchEvents(api, since, (event) => io.out(renderWatchedEvent(event, format, Date.now(), widths)), io);
      return 0;
    }
    case 'drain':
      io.out(renderDrain(await drain(api, options.id!, options.reason), format));
      return 0;
    case 'undrain':
      io.out(renderUndrain(await undrain(api, options.id!), format));
      return 0;
    case 'forget':
      io.out(renderForget(await forget(api, options.id!), format));
      return 0;
    case 'check': {
      const { report, view } = await runCheck(api);
      io.out(renderCheck(report, view, format));
      return report.healthy ? 0 : 1;
    }
  }
}

/** `argv`: what follows the command's name. Exits the process. */
export async function operatorMain(command: OperatorCommand, argv: readonly string[], env: NodeJS.ProcessEnv): Promise<never> {
  const fail = (message: string): never => {
    process.stderr.write(`shardvoy ${command}: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    process.exit(2);
  };
  let options: OperatorOptions;
  try {
    const invocation = parseOperatorArgs(command, argv, env);
    if (invocation.help) {
      process.stdout.write(OPERATOR_USAGE);
      process.exit(0);
    }
    options = invocation.options;
  } catch (error) {
    if (error instanceof UsageError) return fail(`${error.message} (see shardvoy ${command} --help)`);
    throw error;
  }
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const io: Io = {
    out: (text) => void process.stdout.write(text),
    err: (line) => void process.stderr.write(`shardvoy ${command}: ${line}\n`),
    tty: process.stdout.isTTY === true,
    signal: abort.signal,
  };
  let code: number;
  try {
    code = await runOperator(options, io);
  } catch (error) {
    if (error instanceof ApiError) return fail(error.message);
    return fail(`failed: ${(error as Error).stack ?? String(error)}`);
  }
  // Let stdout drain into a pipe before the process ends.
  process.stdout.write('', () => process.exit(code));
  return new Promise<never>(() => {});
}
