/**
 * Command line and environment -> what to run. Kept apart from cli.ts so it can be tested
 * without starting anything.
 */
import { parseArgs } from 'node:util';
import { applyOverrides, defaultConfig, loadConfigFile } from './config/load.js';
import type { Config } from './config/types.js';
import { LOG_LEVELS, UsageError } from './usage-error.js';

export { LOG_LEVELS, UsageError } from './usage-error.js';

export interface Invocation {
  readonly command: 'serve' | 'demo' | 'help' | 'version';
  readonly configFile: string | undefined;
  readonly http: string | undefined;
  readonly grpc: string | undefined;
  readonly logLevel: string;
  readonly nodes: number;
  /** Seconds between polls of the followed discovery servers (registry.pollIntervalSeconds). */
  readonly pollInterval: string | undefined;
}

export function parseInvocation(argv: readonly string[], env: NodeJS.ProcessEnv): Invocation {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string' },
        http: { type: 'string' },
        grpc: { type: 'string' },
        'log-level': { type: 'string' },
        nodes: { type: 'string' },
        'poll-interval': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return invocation('help');
  if (values.version) return invocation('version');
  const command = positionals[0];
  if (command !== 'serve' && command !== 'demo') {
    if (command === 'agent') throw new UsageError('agent: its flags follow it (shardvoy agent --server URL …; see shardvoy agent --help)');
    if (command === 'state') throw new UsageError('state: its flags follow it (shardvoy state import --config FILE STATEFILE; see shardvoy state --help)');
    throw new UsageError(command === undefined ? 'a command is required: serve, demo, agent or state' : `unknown command "${command}"; expected serve, demo, agent, state or an operator command (status, nodes, clients, events, drain, undrain, forget, check)`);
  }
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
  if (command === 'serve' && values.nodes !== undefined) throw new UsageError('--nodes: only the demo command takes it');
  const logLevel = values['log-level'] ?? env.SHARDVOY_LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new UsageError(`--log-level: "${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);
  const nodesText = values.nodes ?? '3';
  if (!/^[0-9]+$/.test(nodesText) || Number(nodesText) < 1 || Number(nodesText) > 1000) {
    throw new UsageError(`--nodes: "${nodesText}" is not a whole number from 1 to 1000`);
  }
  return {
    command,
    configFile: values.config ?? (env.SHARDVOY_CONFIG || undefined),
    http: values.http ?? (env.SHARDVOY_HTTP || undefined),
    grpc: values.grpc ?? (env.SHARDVOY_GRPC || undefined),
    logLevel,
    nodes: Number(nodesText),
    pollInterval: values['poll-interval'],
  };

  function invocation(command: 'help' | 'version'): Invocation {
    return { command, configFile: undefined, http: undefined, grpc: undefined, logLevel: 'info', nodes: 0, pollInterval: undefined };
  }
}

export function resolveConfig(inv: Invocation): Config {
  const base = inv.configFile === undefined ? defaultConfig() : loadConfigFile(inv.configFile);
  return applyOverrides(base, {
    ...(inv.http === undefined ? {} : { http: inv.http }),
    ...(inv.grpc === undefined ? {} : { grpc: inv.grpc }),
    ...(inv.pollInterval === undefined ? {} : { pollInterval: inv.pollInterval }),
  });
}

