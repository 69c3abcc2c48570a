/**
 * A real etcd cluster for the end-to-end suites: one or three members from scripts/peers/etcd.sh
 * (`inject('etcdBin')`), on free loopback ports, their data in a fresh folder (in /dev/shm where
 * there is one), a short heartbeat and election timeout so that a leader killed or stopped by a
 * fault test is replaced well within a second. Each member's log goes to `<name>.log` in that
 * folder (`member.log()`). Everything here speaks to etcd over its HTTP JSON gateway (`/v3/...`,
 * served by 3.4 and later), not etcdctl.
 *
 * Every process started here is killed, and the folder removed, by `stop()`; inside a test that
 * happens when the test finishes, whatever its outcome. A cluster started in a `beforeAll` is the
 * caller's to stop in its `afterAll`; whatever is left when the test worker ends (vitest's
 * SIGTERM, a crash, SIGKILL) is killed by a small watchdog shell within half a second, and the
 * next startEtcd() reaps anything older still.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inject, onTestFinished } from 'vitest';
import { freePortRun } from './free-ports.js';

export interface EtcdOptions {
  readonly members: 1 | 3;
  /** The etcd binary; by default the one the e2e global setup provided. */
  readonly bin?: string;
  /** etcd's --heartbeat-interval and --election-timeout, in ms. */
  readonly heartbeatMs?: number;
  readonly electionTimeoutMs?: number;
  /** etcd's --log-level (its log goes to `<name>.log` in the cluster's folder). */
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** More flags for every member. */
  readonly args?: readonly string[];
  /** How long startEtcd waits for every member to serve and agree on a leader. */
  readonly startTimeoutMs?: number;
}

/** What `POST /v3/maintenance/status` says, ids as the decimal strings the gateway writes. */
export interface EtcdStatus {
  readonly memberId: string;
  readonly leaderId: string;
  readonly raftTerm: number;
  readonly raftIndex: number;
  readonly revision: number;
  readonly version: string;
}

export interface EtcdMember {
  readonly name: string;
  /** http://127.0.0.1:PORT */
  readonly clientUrl: string;
  readonly peerUrl: string;
  /** 127.0.0.1:PORT, the client address. */
  readonly endpoint: string;
  readonly dataDir: string;
  /** Of the running process; undefined while it is killed. */
  readonly pid: number | undefined;
  /** Started and not killed (it may be paused). */
  readonly running: boolean;
  readonly paused: boolean;
  /** SIGKILL; resolves once the process is gone. */
  kill(): Promise<void>;
  /** SIGSTOP: the process holds its sockets and answers nothing. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Starts a killed member again on its data folder; resolves once it serves clients. */
  start(): Promise<void>;
  status(timeoutMs?: number): Promise<EtcdStatus>;
  /** A POST to its JSON gateway: `v3('/kv/range', { key: base64 })`. */
  v3(pathUnderV3: string, body: unknown, timeoutMs?: number): Promise<any>;
  /** The value of a key in this member's own store (a serializable range), undefined if absent. */
  localGet(key: string, timeoutMs?: number): Promise<string | undefined>;
  /** Everything this member logged, over all its starts. */
  log(): string;
}

export interface EtcdCluster {
  /** 127.0.0.1:PORT of every member, in member order. */
  readonly endpoints: string[];
  /** http://127.0.0.1:PORT of every member (what `new Etcd3({ hosts })` takes). */
  readonly clientUrls: string[];
  readonly members: EtcdMember[];
  readonly dir: string;
  /** e.g. "3.4.23". */
  readonly version: string;
  /**
   * The member that says it is the leader and that a majority of the cluster's members name as
   * leader, asked over status; waits for one (not `options.not`) up to `timeoutMs`.
   */
  leader(options?: { readonly not?: EtcdMember; readonly timeoutMs?: number }): Promise<EtcdMember>;
  /** Every running, unpaused member answers /health with true, and there is a leader. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** The last lines of every member's log, for a failure message. */
  logs(lines?: number): string;
  stop(): Promise<void>;
}

export function etcdBinary(): string {
  const bin = inject('etcdBin');
  if (!bin) throw new Error('the e2e global setup provided no etcd binary (run through `npm run test:e2e`)');
  return bin;
}

/** "3.4.23" from `etcd --version`. */
export function etcdVersion(bin: string): string {
  const out = execFileSync(bin, ['--version'], { encoding: 'utf8', env: etcdEnv() });
  const match = /etcd Version:\s*([0-9][0-9.]*)/.exec(out);
  if (!match) throw new Error(`${bin} --version said no version:\n${out}`);
  return match[1]!;
}

const PREFIX = 'shardvoy-etcd-';

export async function startEtcd(options: EtcdOptions): Promise<EtcdCluster> {
  reapStale();
  const bin = options.bin ?? etcdBinary();
  const version = etcdVersion(bin);
  const dir = mkdtempSync(path.join(baseDir(), PREFIX));
  writeFileSync(path.join(dir, 'owner'), String(process.pid));
  const count = options.members;
  const base = await freePortRun(2 * count, '127.0.0.1');
  const token = `shardvoy-${randomUUID()}`;
  const specs = Array.from({ length: count }, (_, i) => ({
    name: `etcd-${i + 1}`,
    clientPort: base + 2 * i,
    peerPort: base + 2 * i + 1,
  }));
  const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peerPort}`).join(',');
  const [major, minor] = version.split('.').map(Number) as [number, number];
  const common = [
    '--initial-cluster', initialCluster,
    '--initial-cluster-state', 'new',
    '--initial-cluster-token', token,
    '--heartbeat-interval', String(options.heartbeatMs ?? 50),
    '--election-timeout', String(options.electionTimeoutMs ?? 500),
    // 3.4 logs with capnslog unless told zap, and --log-level is zap's.
    ...(major === 3 && minor < 5 ? ['--logger', 'zap'] : []),
    '--log-level', options.logLevel ?? 'warn',
    '--log-outputs', 'stderr',
    ...(options.args ?? []),
  ];
  const members = specs.map((s) => new Member(bin, dir, s.name, s.clientPort, s.peerPort, common));
  const cluster = new Cluster(dir, version, members);
  live.add(cluster);
  watchOwner(dir);
  try {
    onTestFinished(() => cluster.stop());
  } catch {
    // Not inside a test (a beforeAll): the caller's afterAll stops it, or the worker's exit does.
  }
  try {
    for (const member of members) member.spawn();
    const deadline = Date.now() + (options.startTimeoutMs ?? 20_000);
    await Promise.all(members.map((member) => member.waitServing(deadline)));
    await cluster.leader({ timeoutMs: Math.max(1_000, deadline - Date.now()) });
    return cluster;
  } catch (error) {
    const logs = cluster.logs();
    await cluster.stop();
    throw new Error(`etcd ${version} (${count} member${count > 1 ? 's' : ''}) did not start: ${(error as Error).message}\n${logs}`);
  }
}

class Member implements EtcdMember {
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly endpoint: string;
  readonly dataDir: string;
  readonly logFile: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private isPaused = false;

  constructor(
    private readonly bin: string,
    private readonly dir: string,
    readonly name: string,
    clientPort: number,
    peerPort: number,
    private readonly common: readonly string[],
  ) {
    this.endpoint = `127.0.0.1:${clientPort}`;
    this.clientUrl = `http://${this.endpoint}`;
    this.peerUrl = `http://127.0.0.1:${peerPort}`;
    this.dataDir = path.join(dir, name);
    this.logFile = path.join(dir, `${name}.log`);
  }

  get pid(): number | undefined {
    return this.running ? this.child!.pid : undefined;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get paused(): boolean {
    return this.running && this.isPaused;
  }

  spawn(): void {
    if (this.running) throw new Error(`${this.name} is already running`);
    const args = [
      '--name', this.name,
      '--data-dir', this.dataDir,
      '--listen-client-urls', this.clientUrl,
      '--advertise-client-urls', this.clientUrl,
      '--listen-peer-urls', this.peerUrl,
      '--initial-advertise-peer-urls', this.peerUrl,
      ...this.common,
    ];
    const log = openSync(this.logFile, 'a');
    try {
      const child = spawn(this.bin, args, { stdio: ['ignore', log, log], env: etcdEnv() });
      this.child = child;
      this.isPaused = false;
      this.exited = new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once('exit', () => resolve());
      });
      child.once('error', () => undefined);
      if (child.pid !== undefined) writeFileSync(path.join(this.dir, `${this.name}.pid`), String(child.pid));
    } finally {
      closeSync(log);
    }
  }

  /** Until the member answers status (etcd serves clients once it has joined the cluster). */
  async waitServing(deadline: number): Promise<void> {
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`${this.name} exited (${this.child?.exitCode ?? this.child?.signalCode}) before it served clients`);
      try {
        await this.status(500);
        return;
      } catch (error) {
        last = (error as Error).message;
      }
      await sleep(50);
    }
    throw new Error(`${this.name} served no status on ${this.clientUrl} in time (${last})`);
  }

  async kill(): Promise<void> {
    if (this.running) this.child!.kill('SIGKILL');
    await this.exited;
    this.isPaused = false;
  }

  /** Synchronous SIGKILL, for the exit handler. */
  killNow(): void {
    if (this.running) {
      try {
        process.kill(this.child!.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  pause(): void {
    if (!this.running) throw new Error(`${this.name} is not running`);
    this.child!.kill('SIGSTOP');
    this.isPaused = true;
  }

  resume(): void {
    if (!this.running) throw new Error(`${this.name} is not running`);
    this.child!.kill('SIGCONT');
    this.isPaused = false;
  }

  async start(timeoutMs = 15_000): Promise<void> {
    this.spawn();
    try {
      await this.waitServing(Date.now() + timeoutMs);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${tail(this.log(), 30)}`);
    }
  }

  async v3(pathUnderV3: string, body: unknown, timeoutMs = 1_000): Promise<any> {
    const url = `${this.clientUrl}/v3${pathUnderV3}`;
    const response = await fetch(url, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
    const text = await response.text();
    if (!response.ok) throw new Error(`POST ${url}: ${response.status} ${text}`);
    return JSON.parse(text);
  }

  async status(timeoutMs = 1_000): Promise<EtcdStatus> {
    const s = await this.v3('/maintenance/status', {}, timeoutMs);
    return {
      memberId: String(s.header?.member_id ?? ''),
      leaderId: String(s.leader ?? '0'),
      raftTerm: Number(s.raftTerm ?? 0),
      raftIndex: Number(s.raftIndex ?? 0),
      revision: Number(s.header?.revision ?? 0),
      version: String(s.version ?? ''),
    };
  }

  async localGet(key: string, timeoutMs = 1_000): Promise<string | undefined> {
    const r = await this.v3('/kv/range', { key: Buffer.from(key).toString('base64'), serializable: true }, timeoutMs);
    const kv = r.kvs?.[0];
    return kv ? Buffer.from(kv.value ?? '', 'base64').toString() : undefined;
  }

  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }
}

class Cluster implements EtcdCluster {
  readonly endpoints: string[];
  readonly clientUrls: string[];
  private stopped = false;

  constructor(
    readonly dir: string,
    readonly version: string,
    readonly members: Member[],
  ) {
    this.endpoints = members.map((m) => m.endpoint);
    this.clientUrls = members.map((m) => m.clientUrl);
  }

  /** One round of status: the agreed leader, if there is one now. */
  private async currentLeader(): Promise<Member | undefined> {
    const answers = await Promise.all(
      this.members
        .filter((m) => m.running && !m.paused)
        .map((m) =>
          m.status(300).then(
            (status) => ({ member: m, status }),
            () => undefined,
          ),
        ),
    );
    const statuses = answers.filter((a): a is { member: Member; status: EtcdStatus } => a !== undefined);
    const quorum = Math.floor(this.members.length / 2) + 1;
    const candidates = statuses.filter((a) => a.status.leaderId !== '0' && a.status.leaderId === a.status.memberId).sort((a, b) => b.status.raftTerm - a.status.raftTerm);
    for (const candidate of candidates) {
      const named = statuses.filter((a) => a.status.leaderId === candidate.status.memberId && a.status.raftTerm === candidate.status.raftTerm).length;
      if (named >= quorum) return candidate.member;
    }
    return undefined;
  }

  async leader(options: { readonly not?: EtcdMember; readonly timeoutMs?: number } = {}): Promise<EtcdMember> {
    const deadline = Date.now() + (options.timeoutMs ?? 10_000);
    for (;;) {
      const leader = await this.currentLeader();
      if (leader && leader !== options.not) return leader;
      if (Date.now() >= deadline) {
        throw new Error(`no etcd leader${options.not ? ` other than ${options.not.name}` : ''} agreed by a majority within ${options.timeoutMs ?? 10_000} ms`);
      }
      await sleep(20);
    }
  }

  async waitHealthy(timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      const unhealthy: string[] = [];
      await Promise.all(
        this.members
          .filter((m) => m.running && !m.paused)
          .map(async (m) => {
            try {
              const response = await fetch(`${m.clientUrl}/health`, { signal: AbortSignal.timeout(1_000) });
              const body = (await response.json()) as { health?: string; reason?: string };
              if (body.health !== 'true') unhealthy.push(`${m.name}: ${JSON.stringify(body)}`);
            } catch (error) {
              unhealthy.push(`${m.name}: ${(error as Error).message}`);
            }
          }),
      );
      if (unhealthy.length === 0) {
        await this.leader({ timeoutMs: Math.max(500, deadline - Date.now()) });
        return;
      }
      last = unhealthy.join('; ');
      await sleep(50);
    }
    throw new Error(`etcd not healthy within ${timeoutMs} ms: ${last}\n${this.logs()}`);
  }

  logs(lines = 20): string {
    return this.members.map((m) => `--- ${m.name} (${m.logFile}) ---\n${tail(m.log(), lines)}`).join('\n');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(this.members.map((m) => m.kill()));
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }

  /** For the exit handler: no awaiting there. */
  stopNow(): void {
    for (const m of this.members) m.killNow();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const live = new Set<Cluster>();
process.once('exit', () => {
  for (const cluster of live) cluster.stopNow();
});

/**
 * Vitest ends a test worker with SIGTERM, which runs no 'exit' handler: a detached shell per
 * cluster waits for this process to go (or the folder, which stop() removes), then kills every
 * member whose pid file is there and whose command line names the folder, and removes it.
 */
function watchOwner(dir: string): void {
  const script = [
    'while kill -0 "$1" 2>/dev/null && [ -d "$2" ]; do sleep 0.5; done',
    'for f in "$2"/*.pid; do',
    '  [ -f "$f" ] || continue',
    '  pid=$(cat "$f")',
    '  if grep -qF "$2" "/proc/$pid/cmdline" 2>/dev/null; then kill -9 "$pid" 2>/dev/null; fi',
    'done',
    'rm -rf "$2"',
  ].join('\n');
  const watchdog = spawn('sh', ['-c', script, 'etcd-watchdog', String(process.pid), dir], { detached: true, stdio: 'ignore' });
  watchdog.once('error', () => undefined);
  watchdog.unref();
}

/** /dev/shm where it is there and writable (a data folder in memory), else the temp folder. */
function baseDir(): string {
  try {
    const probe = mkdtempSync(path.join('/dev/shm', PREFIX + 'probe-'));
    rmSync(probe, { recursive: true, force: true });
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

/**
 * Clusters left by a test worker that died without stopping them: their owner process is gone.
 * Only a pid whose command line names that cluster's folder is killed.
 */
function reapStale(): void {
  for (const base of new Set(['/dev/shm', tmpdir()])) {
    let entries: string[];
    try {
      entries = readdirSync(base).filter((e) => e.startsWith(PREFIX));
    } catch {
      continue;
    }
    for (const entry of entries) {
      const dir = path.join(base, entry);
      let owner: number;
      try {
        owner = Number(readFileSync(path.join(dir, 'owner'), 'utf8'));
      } catch {
        continue;
      }
      if (!Number.isInteger(owner) || owner <= 0 || alive(owner)) continue;
      for (const file of readdirSync(dir).filter((f) => f.endsWith('.pid'))) {
        const pid = Number(readFileSync(path.join(dir, file), 'utf8'));
        try {
          if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)) process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The environment without ETCD_*: etcd reads those as flags (ETCD_VERSION would be --version). */
function etcdEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('ETCD_')));
}

function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines - 1).join('\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
