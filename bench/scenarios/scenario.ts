/** What every scenario is given and fills in. */
import type { Spawner } from '../lib/children.js';
import type { Profile } from '../lib/profile.js';
import type { Table, Verdict } from '../lib/report.js';

export type ScenarioId = 'ingest' | 'fanout' | 'memory' | 'scale' | 'storm' | 'envoys' | 'etcd-ingest';

/** Filled in as the scenario goes, so a scenario that fails midway still reports what it measured. */
export interface SectionDraft {
  readonly tables: Table[];
  readonly verdicts: Verdict[];
  readonly notes: string[];
}

export interface ScenarioContext {
  readonly profile: Profile;
  /** Prints a line as the run goes. */
  readonly log: (line: string) => void;
  /** Starts child processes; every one is stopped when the scenario ends. */
  readonly spawn: Spawner;
  readonly section: SectionDraft;
}

export interface Scenario {
  readonly id: ScenarioId;
  readonly title: string;
  /** How it is measured, for RESULTS.md. */
  method(profile: Profile): string;
  /** A bound on the whole scenario: past it, the scenario is abandoned and its children killed. */
  timeoutMs(profile: Profile): number;
  run(context: ScenarioContext): Promise<void>;
}
