/**
 * `npm run bench`: runs the scenarios of issue 7 in sequence, prints every figure as it goes, and
 * rewrites bench/RESULTS.md with the command, the date, the machine and one table per scenario.
 *
 *   npx tsx bench/run.ts [--quick] [--only ingest,fanout,memory,scale,storm,envoys,etcd-ingest] [--out FILE]
 *
 * Servers and load generators are child processes driven over IPC (bench/lib/ipc.ts); each
 * scenario has a time bound, and every child is stopped when its scenario ends, however it ends.
 * `runBench` is exported so a test can run the `tiny` profile.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Spawner } from './lib/children.js';
import { REPO_ROOT } from './lib/ipc.js';
import { PROFILES, describeProfile, type ProfileName } from './lib/profile.js';
import { codeUnderTest, machineInfo, renderMarkdown, type Report, type Section } from './lib/report.js';
import { fmt } from './lib/stats.js';
import { fanout } from './scenarios/fanout.js';
import { ingest } from './scenarios/ingest.js';
import { memory } from './scenarios/memory.js';
import { scale } from './scenarios/scale.js';
import type { Scenario, ScenarioId, SectionDraft } from './scenarios/scenario.js';
import { envoys } from './scenarios/envoys.js';
import { etcdIngest } from './scenarios/etcd-ingest.js';
import { reconnectStorm } from './scenarios/storm.js';

export const SCENARIOS: readonly Scenario[] = [ingest, fanout, memory, scale, reconnectStorm, envoys, etcdIngest];

export const DEFAULT_RESULTS_PATH = fileURLToPath(new URL('./RESULTS.md', import.meta.url));

export interface BenchOptions {
  readonly profile?: ProfileName;
  /** Scenario ids to run, in the standard order; all when absent. */
  readonly only?: readonly ScenarioId[];
  /** Where RESULTS.md goes; null writes nothing. */
  readonly resultsPath?: string | null;
  /** The command line recorded in RESULTS.md. */
  readonly command?: string;
  readonly log?: (line: string) => void;
}

async function runScenario(scenario: Scenario, options: Required<Pick<BenchOptions, 'log'>> & { profile: ProfileName }): Promise<Section> {
  const profile = PROFILES[options.profile];
  const { log } = options;
  const draft: SectionDraft = { tables: [], verdicts: [], notes: [] };
  const spawn = new Spawner();
  const limitMs = scenario.timeoutMs(profile);
  let timer: NodeJS.Timeout | undefined;
  let error: string | undefined;
  const started = Date.now();
  // Other work on the machine shows here: a load above the core count means the figures are contended.
  const loadAtStart = os.loadavg()[0] ?? 0;
  log(`\n${scenario.title} (load average ${fmt(loadAtStart)} on ${os.cpus().length} cores)`);
  try {
    await Promise.race([
      scenario.run({ profile, log, spawn, section: draft }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`abandoned after its time bound of ${Math.round(limitMs / 1000)} s`)), limitMs);
      }),
    ]);
  } catch (caught) {
    error = caught instanceof Error ? caught.message : String(caught);
    log(`  FAILED: ${error}`);
  } finally {
    clearTimeout(timer);
    // Also ends a scenario abandoned by its time bound: its requests fail once its children are gone.
    await spawn.stopAll();
  }
  for (const verdict of draft.verdicts) log(`  ${verdict.result === 'PASS' ? 'PASS' : 'MISS'}  ${verdict.target}: ${verdict.measured}${verdict.pass ? '' : ` — ${verdict.result}`}`);
  log(`  (${Math.round((Date.now() - started) / 1000)} s)`);
  return {
    id: scenario.id,
    title: scenario.title,
    method: scenario.method(profile),
    tables: draft.tables,
    verdicts: draft.verdicts,
    notes: draft.notes,
    loadAverage: { start: loadAtStart, end: os.loadavg()[0] ?? 0 },
    ...(error === undefined ? {} : { error }),
  };
}

/** Runs the chosen scenarios and (unless resultsPath is null) rewrites RESULTS.md. */
export async function runBench(options: BenchOptions = {}): Promise<Report> {
  const profileName = options.profile ?? 'full';
  const log = options.log ?? ((line: string) => console.log(line));
  const chosen = SCENARIOS.filter((s) => !options.only || options.only.includes(s.id));
  const started = Date.now();
  const date = new Date(started).toISOString();
  const machine = machineInfo();
  // Read before the run: what was measured, even if a commit lands while it goes on.
  const code = codeUnderTest(REPO_ROOT);
  log(`shardvoy bench, profile ${describeProfile(PROFILES[profileName])}`);
  log(`${machine.cpu}, ${machine.cores} cores, ${machine.memory}, Node ${machine.node}, ${machine.os}`);
  const sections: Section[] = [];
  for (const scenario of chosen) sections.push(await runScenario(scenario, { profile: profileName, log }));
  const report: Report = {
    command: options.command ?? 'runBench()',
    date,
    profile: describeProfile(PROFILES[profileName]),
    fullSize: profileName === 'full',
    machine,
    code,
    durationSec: (Date.now() - started) / 1000,
    sections,
  };
  const resultsPath = options.resultsPath === undefined ? DEFAULT_RESULTS_PATH : options.resultsPath;
  if (resultsPath !== null) {
    writeFileSync(resultsPath, renderMarkdown(report) + endToEndFigures(resultsPath));
    log(`\nwrote ${path.relative(process.cwd(), resultsPath) || resultsPath}`);
  }
  return report;
}

/**
 * Figures measured by `npm run test:e2e` (failover times, say) are written into RESULTS.md by
 * hand under this heading, after the bench's own sections; a bench run keeps them as they are.
 */
export const END_TO_END_HEADING = '## End-to-end figures';

function endToEndFigures(resultsPath: string): string {
  if (!existsSync(resultsPath)) return '';
  const previous = readFileSync(resultsPath, 'utf8');
  const at = previous.indexOf(`\n${END_TO_END_HEADING}`);
  return at < 0 ? '' : `\n${previous.slice(at + 1).trimEnd()}\n`;
}

function parseArgs(argv: readonly string[]): BenchOptions {
  let profile: ProfileName = 'full';
  const only: ScenarioId[] = [];
  let resultsPath: string | undefined;
  const ids = SCENARIOS.map((s) => s.id);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick') profile = 'quick';
    else if (arg === '--tiny') profile = 'tiny';
    else if (arg === '--only' || arg === '--out') {
      const value = argv[++i];
      if (value === undefined) throw new Error(`${arg} needs a value`);
      if (arg === '--out') resultsPath = path.resolve(value);
      else
        for (const id of value.split(',')) {
          if (!ids.includes(id as ScenarioId)) throw new Error(`unknown scenario "${id}"; scenarios: ${ids.join(', ')}`);
          only.push(id as ScenarioId);
        }
    } else if (arg === '--help' || arg === '-h') {
      console.log(`usage: tsx bench/run.ts [--quick] [--only ${ids.join(',')}] [--out FILE]`);
      process.exit(0);
    } else throw new Error(`unknown argument "${arg}" (see --help)`);
  }
  return { profile, ...(only.length > 0 ? { only } : {}), ...(resultsPath ? { resultsPath } : {}) };
}

const isMain = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const argv = process.argv.slice(2);
  // As typed: `npm run bench` when npm started us, else the tsx command line.
  const viaNpm = process.env.npm_lifecycle_event === 'bench';
  const command = viaNpm ? `npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}` : ['npx tsx bench/run.ts', ...argv].join(' ');
  try {
    const report = await runBench({ ...parseArgs(argv), command });
    const failed = report.sections.filter((s) => s.error !== undefined).length;
    // Missed targets are results, not failures; a scenario that could not finish is.
    process.exitCode = failed > 0 ? 1 : 0;
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 2;
  }
}
