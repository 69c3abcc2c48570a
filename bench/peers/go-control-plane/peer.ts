/**
 * The bench's side of the go-control-plane peer (main.go beside this file): builds it with
 * build.sh (once per bench process), writes the fixture it loads (shardvoy's snapshot of the
 * group, encoded resources per type), starts it, and talks to it over its stdin/stdout (one JSON
 * line per request and per reply) with the same `request(type, payload, timeoutMs)` as a bench
 * child, so that the scenarios drive it like the other servers.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from '../../lib/ipc.js';
import { nowAbs } from '../../lib/process-stats.js';

const BUILD_SCRIPT = fileURLToPath(new URL('./build.sh', import.meta.url));
/** Where the fixtures go: git-ignored, beside the binary. */
const WORK_DIR = path.join(REPO_ROOT, '.peers', 'go-control-plane');
/** A fresh machine downloads the modules first: a few minutes at most. */
export const PEER_BUILD_ALLOWANCE_MS = 6 * 60_000;

/** The peer's snapshot: what shardvoy's `snapshotResources` request returns. */
export interface PeerSnapshot {
  readonly version: string;
  /** Base64 of each encoded resource, by type URL. */
  readonly resources: Readonly<Record<string, readonly string[]>>;
  /** The resources' names, in the same order (for the bench; the peer reads names off the messages). */
  readonly names?: Readonly<Record<string, readonly string[]>>;
}

export interface GcpInfo {
  readonly grpc: string;
  readonly pid: number;
  readonly go: string;
  readonly gomaxprocs: number;
  /** The module path and version the binary was built with. */
  readonly library: string;
}

export interface PeerOptions {
  /** Killed after this, whatever happens to the bench. */
  readonly maxLifetimeMs: number;
  /** host:port of its xDS server (default 127.0.0.1:0). */
  readonly listen?: string;
  /** Note each stream's EDS versions sent and ACKed, for `eds()` (scenario 6). */
  readonly trackEds?: boolean;
}

/** One SotW stream's EDS, as the peer's callbacks saw it. */
export interface PeerEdsState {
  /** The client's address, host:port. */
  readonly peer: string;
  readonly sent: string;
  readonly acked: string;
  /** When that ACK arrived, on the peer's clock (0 before any). */
  readonly ackedAt: number;
}

/** Why the peer did not run; shown in its column instead of figures. */
export class PeerNotRun extends Error {}

let built: Promise<string> | undefined;

/** Builds the peer (go build caches, so a second build is quick); resolves to the binary's path. */
export function buildPeer(): Promise<string> {
  built ??= new Promise<string>((resolve, reject) => {
    execFile(BUILD_SCRIPT, [], { cwd: REPO_ROOT, timeout: PEER_BUILD_ALLOWANCE_MS, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (!error) {
        resolve(stdout.trim().split('\n').pop()!);
        return;
      }
      const code = (error as { code?: unknown }).code;
      if (code === 3 || code === 'ENOENT' || /no Go toolchain/.test(stderr)) reject(new PeerNotRun('no Go toolchain'));
      else reject(new PeerNotRun(`build failed: ${(stderr.trim().split('\n').slice(-3).join(' ') || error.message).slice(0, 300)}`));
    });
  });
  return built;
}

interface Reply {
  readonly id: number;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: string;
}

export class GcpPeer {
  readonly name = 'go-control-plane';
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  private exited = false;
  private readonly exitPromise: Promise<void>;

  private constructor(
    private readonly process: ChildProcess,
    readonly info: GcpInfo,
    lines: AsyncIterableIterator<string>,
  ) {
    this.exitPromise = new Promise((resolve) => process.once('exit', () => resolve()));
    process.once('exit', (code, signal) => {
      this.exited = true;
      for (const [, waiter] of this.pending) {
        clearTimeout(waiter.timer);
        waiter.reject(new Error(`go-control-plane peer exited (code ${code}, signal ${signal}) with a request outstanding`));
      }
      this.pending.clear();
    });
    void (async () => {
      for await (const line of lines) this.onLine(line);
    })().catch(() => undefined);
  }

  /** Builds if needed, writes the fixture, starts the peer and waits until it serves. */
  static async start(fixture: PeerSnapshot, nodes: readonly string[], options: PeerOptions): Promise<GcpPeer> {
    const binary = await buildPeer();
    mkdirSync(WORK_DIR, { recursive: true });
    const fixturePath = path.join(WORK_DIR, `fixture-${process.pid}.json`);
    writeFileSync(fixturePath, JSON.stringify({ ...fixture, nodes }));
    const flags = [...(options.listen ? ['-listen', options.listen] : []), ...(options.trackEds ? ['-track-eds'] : [])];
    const child = spawn(binary, ['-fixture', fixturePath, ...flags], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
    // Never outlive the bench: killed with it, and after its lifetime cap in any case.
    const kill = () => child.kill('SIGKILL');
    process.once('exit', kill);
    const cap = setTimeout(kill, options.maxLifetimeMs);
    cap.unref();
    child.once('exit', () => {
      clearTimeout(cap);
      process.off('exit', kill);
      rmSync(fixturePath, { force: true });
    });
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const info = await new Promise<GcpInfo>((resolve, reject) => {
      const timer = setTimeout(() => {
        kill();
        reject(new Error('go-control-plane peer not ready within 30 s'));
      }, 30_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`go-control-plane peer exited (code ${code}) before it was ready`));
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      void lines.next().then(({ value }) => {
        clearTimeout(timer);
        try {
          resolve((JSON.parse(String(value)) as { ready: GcpInfo }).ready);
        } catch {
          kill();
          reject(new Error(`go-control-plane peer said ${String(value)} instead of ready`));
        }
      });
    });
    return new GcpPeer(child, info, lines);
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  request<T>(type: string, payload: unknown, timeoutMs: number): Promise<T> {
    if (this.exited) return Promise.reject(new Error('go-control-plane peer has exited'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`go-control-plane peer: no reply to "${type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      this.process.stdin!.write(`${JSON.stringify({ id, type, payload })}\n`);
    });
  }

  /** Every open SotW stream's EDS versions (the peer must have been started with trackEds). */
  eds(): Promise<PeerEdsState[]> {
    return this.request<PeerEdsState[]>('eds', {}, 5_000);
  }

  /**
   * The peer's wall clock minus this process's nowAbs(), from the ping with the shortest round
   * trip: the peer's times (Go's time.Now()) are shifted by it onto the bench's clock.
   */
  async clockOffsetMs(pings = 5): Promise<{ offsetMs: number; rttMs: number }> {
    let best = { offsetMs: 0, rttMs: Number.POSITIVE_INFINITY };
    for (let i = 0; i < pings; i++) {
      const sent = nowAbs();
      const { now } = await this.request<{ now: number }>('ping', {}, 5_000);
      const received = nowAbs();
      if (received - sent < best.rttMs) best = { offsetMs: now - (sent + received) / 2, rttMs: received - sent };
    }
    return best;
  }

  /** Closes its stdin (it stops serving and exits), then SIGKILL after `graceMs`. */
  async stop(graceMs = 3_000): Promise<void> {
    if (this.exited) return;
    this.process.stdin!.end();
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    await this.exitPromise;
    clearTimeout(timer);
  }

  private onLine(line: string): void {
    let reply: Reply;
    try {
      reply = JSON.parse(line) as Reply;
    } catch {
      return;
    }
    const waiter = this.pending.get(reply.id);
    if (!waiter) return;
    this.pending.delete(reply.id);
    clearTimeout(waiter.timer);
    if (reply.ok) waiter.resolve(reply.result);
    else waiter.reject(new Error(`go-control-plane peer: ${reply.error ?? 'failed'}`));
  }
}
