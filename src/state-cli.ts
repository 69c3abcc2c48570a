/**
 * `shardvoy state import --config FILE [--merge] [--dry-run] STATEFILE` (contract 14; cli.ts hands
 * `state …` here): a memory store's state file into the etcd store the configuration names.
 * Prints each entry left out and why, then one summary line, on stdout.
 * Exit codes: 0 imported (entries dropped included), 2 bad flags, configuration or state file
 * (one line naming it), 1 etcd unreachable, already holding a registry, or failing part-way.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Etcd3 } from 'etcd3';
import { ConfigError, loadConfigFile } from './config/load.js';
import type { Config } from './config/types.js';
import { etcdClientOptions } from './registry/etcd/etcd-store.js';
import { ImportFailedError, ImportRefusedError, importState, type ImportReport } from './registry/etcd/state-import.js';
import { portPools } from './registry/ports.js';
import { parseState } from './registry/state-file.js';
import { UsageError } from './usage-error.js';

export const STATE_USAGE = `Usage:
  shardvoy state import --config FILE [--merge] [--dry-run] STATEFILE

Loads a memory store's state file (registry.stateFile) into the etcd store that FILE names
(registry.store: etcd), to move from one instance to several. Each node gets a fresh lease of
registry.leaseSeconds; ports keep their numbers. Entries the state file's rules refuse are
left out, each named with its reason.

  --config FILE  the configuration of the instances that will share etcd (env SHARDVOY_CONFIG)
  --merge        etcd's prefix may already hold a registry: add what it does not hold, keep
                 (and name) what it does; also finishes an import that stopped part-way
  --dry-run      read etcd and say what would be written, write nothing
`;

export interface StateInvocation {
  readonly command: 'help' | 'import';
  readonly configFile: string;
  readonly stateFile: string;
  readonly merge: boolean;
  readonly dryRun: boolean;
}

/** `state …` arguments (after `state`) -> what to do; a UsageError names the bad flag. */
export function parseStateInvocation(argv: readonly string[], env: NodeJS.ProcessEnv): StateInvocation {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string' },
        merge: { type: 'boolean' },
        'dry-run': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError(`state: ${(error as Error).message}`);
  }
  const { values, positionals } = parsed;
  const none = { configFile: '', stateFile: '', merge: false, dryRun: false };
  if (values.help) return { command: 'help', ...none };
  const [sub, ...rest] = positionals;
  if (sub === undefined) throw new UsageError('state: a subcommand is required: import');
  if (sub !== 'import') throw new UsageError(`state: unknown subcommand "${sub}"; expected import`);
  const configFile = values.config ?? (env.SHARDVOY_CONFIG || undefined);
  if (configFile === undefined) throw new UsageError('state import: --config FILE is required (the configuration with registry.store: etcd)');
  if (rest.length === 0) throw new UsageError('state import: the state file to import is required (state import --config FILE STATEFILE)');
  if (rest.length > 1) throw new UsageError(`state import: unexpected argument "${rest[1]}": one state file at a time`);
  return { command: 'import', configFile, stateFile: rest[0]!, merge: values.merge === true, dryRun: values['dry-run'] === true };
}

/** The configuration, which must name an etcd store. */
export function importTarget(configFile: string): Config {
  const config = loadConfigFile(configFile);
  if (config.registry.store !== 'etcd' || !config.registry.etcd) {
    throw new ConfigError(
      'registry.store',
      `is "${config.registry.store}": state import writes into the etcd store; give the configuration the instances will run with (registry.store: etcd, registry.etcd.endpoints)`,
      configFile,
    );
  }
  return config;
}

/** The state file cannot be imported at all (unreadable, not JSON, not a state): exit 2. */
export class StateFileError extends Error {}

/** The state file checked as a start loads it (never moved aside here: it is the operator's). */
export function readStateFile(file: string): Exclude<ReturnType<typeof parseState>, { kind: 'invalid' }> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new StateFileError(`state import: ${file}: cannot be read: ${(error as Error).message}`);
  }
  const parsed = parseState(text);
  if (parsed.kind === 'invalid') throw new StateFileError(`state import: ${file} ${parsed.reason}`);
  return parsed;
}

const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

export function summary(report: ImportReport, where: string, prefix: string, dryRun: boolean): string {
  const verb = dryRun ? 'would import' : 'imported';
  return (
    `${verb} ${count(report.nodes, 'node', 'nodes')} and ${count(report.ports, 'port', 'ports')} into etcd (${where}) under ${prefix}` +
    ` in ${count(report.transactions, 'transaction', 'transactions')}` +
    `; ${count(report.dropped.length, 'entry', 'entries')} dropped, ${report.existing.length} already there` +
    (report.nodes > 0 ? `; every node has a fresh ${report.leaseSeconds} s lease` : '') +
    (dryRun ? '; nothing written (--dry-run)' : '')
  );
}

export async function stateMain(argv: readonly string[]): Promise<void> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const fail = (code: number, message: string): never => {
    process.stderr.write(`shardvoy: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    process.exit(code);
  };
  let inv: StateInvocation;
  let config: Config;
  let file: ReturnType<typeof readStateFile>;
  try {
    inv = parseStateInvocation(argv, process.env);
    if (inv.command === 'help') return void out(STATE_USAGE.trimEnd());
    config = importTarget(inv.configFile);
    file = readStateFile(inv.stateFile);
  } catch (error) {
    if (error instanceof UsageError) return fail(2, `${error.message} (see shardvoy state --help)`);
    if (error instanceof ConfigError || error instanceof StateFileError) return fail(2, error.message);
    throw error;
  }
  const etcd = config.registry.etcd!;
  const where = etcd.endpoints.join(', ');
  const client = new Etcd3({ ...etcdClientOptions(etcd), dialTimeout: 5000 });
  try {
    const report = await importState(file, {
      client,
      prefix: etcd.prefix,
      leaseSeconds: config.registry.leaseSeconds,
      portPools: portPools(config),
      portReuseSeconds: config.registry.portReuseSeconds,
      merge: inv.merge,
      dryRun: inv.dryRun,
      nowMs: Date.now(),
      where,
    });
    for (const { entry, reason } of report.dropped) out(`dropped ${entry}: ${reason}`);
    for (const { entry, reason } of report.existing) out(`kept ${entry}: ${reason}`);
    out(summary(report, where, etcd.prefix, inv.dryRun));
  } catch (error) {
    if (error instanceof ImportRefusedError || error instanceof ImportFailedError) fail(1, `state import: ${error.message}`);
    fail(1, `state import failed: ${(error as Error).message}`);
  } finally {
    client.close();
  }
}
