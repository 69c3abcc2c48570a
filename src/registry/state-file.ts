/**
 * The state file (contract section 9): nodes, their last status and port allocations, so a
 * restart neither forgets the topology nor reshuffles the ports clients were told to use.
 * Written atomically (atomic-write.ts): a crash leaves the old file or the new one, never half
 * of one. A file that cannot be read is moved aside and logged; in one that can, each entry is
 * checked as a heartbeat would be (state-entries.ts) and only the valid ones load.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { readFileSync, renameSync } from 'node:fs';
import type { Logger } from 'pino';
import { writeAtomically } from './atomic-write.js';
import type { DkvDetails } from './node.js';
import type { NodeRegistry, RegistryState } from './registry.js';
import { checkNodes, checkPorts, StoredDkvDetails, type DroppedEntry, type StoredNode, type StoredPort } from './state-entries.js';

const STATE_VERSION = 1;

/** The file as a whole; each entry is checked on its own (state-entries.ts), so one bad entry costs only itself. */
const StateEnvelope = Type.Object({
  version: Type.Literal(STATE_VERSION),
  savedAt: Type.String(),
  nodes: Type.Array(Type.Unknown()),
  ports: Type.Array(Type.Unknown()),
});
interface StateFile {
  readonly version: typeof STATE_VERSION;
  readonly savedAt: string;
  readonly nodes: StoredNode[];
  readonly ports: StoredPort[];
}

const validate = new Ajv({ allErrors: false }).compile<Static<typeof StateEnvelope>>(StateEnvelope);

export function serializeState(state: RegistryState, nowMs: number): string {
  const file: StateFile = {
    version: STATE_VERSION,
    savedAt: new Date(nowMs).toISOString(),
    nodes: state.nodes.map(({ dkv, ...n }) => ({
      ...n,
      labels: { ...n.labels },
      ...(n.dc === undefined ? {} : { dc: n.dc }),
      ...(dkv === undefined ? {} : { dkv: dkvToFile(dkv) }),
    })),
    ports: state.ports.map((p) => ({ ...p, ...(p.releasedAtMs === undefined ? {} : { releasedAtMs: p.releasedAtMs }) })),
  };
  return JSON.stringify(file);
}

function dkvToFile(dkv: DkvDetails): Static<typeof StoredDkvDetails> {
  return {
    regionStatus: dkv.regionStatus,
    timestamp: dkv.timestamp,
    httpAddress: dkv.httpAddress,
    ...(dkv.masterHost === undefined ? {} : { masterHost: dkv.masterHost }),
    ...(dkv.nexusClusterUrl === undefined ? {} : { nexusClusterUrl: dkv.nexusClusterUrl }),
  };
}

export type LoadResult =
  | { kind: 'none' }
  | { kind: 'loaded'; state: RegistryState; dropped: readonly DroppedEntry[] }
  | { kind: 'corrupt'; reason: string; movedTo: string };

/**
 * Reads the state file; a corrupt one is renamed aside (`<file>.corrupt-<time>`), never deleted.
 * In a readable one, invalid entries are dropped (`dropped` says which and why) and the rest load.
 */
export function loadState(file: string, nowMs: number): LoadResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'none' };
    return moveAside(file, nowMs, `cannot be read: ${(error as Error).message}`);
  }
  const parsed = parseState(text);
  return parsed.kind === 'loaded' ? parsed : moveAside(file, nowMs, parsed.reason);
}

export type ParsedState = { kind: 'loaded'; state: RegistryState; dropped: readonly DroppedEntry[] } | { kind: 'invalid'; reason: string };

/**
 * A state file's text, checked as loadState checks it (and as `shardvoy state import` does,
 * which must not move the operator's file aside): invalid entries dropped, each with its reason.
 */
export function parseState(text: string): ParsedState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { kind: 'invalid', reason: `is not JSON: ${(error as Error).message}` };
  }
  if (!validate(parsed)) {
    const first = validate.errors?.[0];
    return { kind: 'invalid', reason: `does not hold a shardvoy state: ${first?.instancePath || '(root)'} ${first?.message ?? ''}`.trim() };
  }
  const nodes = checkNodes(parsed.nodes);
  const ports = checkPorts(parsed.ports);
  return { kind: 'loaded', state: { nodes: nodes.nodes, ports: ports.ports }, dropped: [...nodes.dropped, ...ports.dropped] };
}

function moveAside(file: string, nowMs: number, reason: string): LoadResult {
  const movedTo = `${file}.corrupt-${new Date(nowMs).toISOString().replace(/[:.]/g, '-')}`;
  try {
    renameSync(file, movedTo);
  } catch {
    // Unreadable and immovable: starting as if there were none is still the safe course.
  }
  return { kind: 'corrupt', reason, movedTo };
}

/**
 * Saves the registry after changes, at most once per `minIntervalMs`, and on demand at shutdown.
 * Lease renewals alone change nothing saved (a loaded node gets a fresh lease anyway).
 */
export class StateSaver {
  private timer: NodeJS.Timeout | undefined;
  private dirty = false;
  private lastWriteMs = 0;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly file: string,
    private readonly registry: NodeRegistry,
    private readonly logger: Logger,
    private readonly minIntervalMs = 1_000,
  ) {}

  start(): void {
    this.unsubscribe = this.registry.onChange(() => this.markDirty());
  }

  /** Writes now if anything changed since the last write. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.dirty) return;
    this.dirty = false;
    this.lastWriteMs = Date.now();
    try {
      writeAtomically(this.file, serializeState(this.registry.state(), this.lastWriteMs));
    } catch (error) {
      this.dirty = true;
      this.logger.error({ err: error, file: this.file }, 'state file not written; will retry');
      this.schedule();
    }
  }

  stop(): void {
    this.unsubscribe?.();
    this.flush();
  }

  private markDirty(): void {
    this.dirty = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    const wait = Math.max(0, this.lastWriteMs + this.minIntervalMs - Date.now());
    this.timer = setTimeout(() => this.flush(), wait);
    this.timer.unref();
  }
}
