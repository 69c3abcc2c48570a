/**
 * Parent <-> child messaging over the IPC channel of child_process.fork: numbered requests with a
 * reply each and a timeout each, so a scenario can drive its servers and clients step by step.
 * Every child started here is killed when the run ends, whether it ends well or not.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface RequestMessage {
  readonly kind: 'request';
  readonly id: number;
  readonly type: string;
  readonly payload: unknown;
}

interface ReplyMessage {
  readonly kind: 'reply';
  readonly id: number;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: string;
}

interface ReadyMessage {
  readonly kind: 'ready';
  readonly info: unknown;
}

type Message = RequestMessage | ReplyMessage | ReadyMessage;

/** Children still alive; killed on exit so that a crash of the runner never leaves servers behind. */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** The repository root: children run with it as cwd so that `--import tsx` resolves. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A child's hard lifetime cap, passed in its environment: it exits by itself even if forgotten. */
const LIFETIME_ENV = 'BENCH_CHILD_MAX_MS';

export interface StartOptions {
  /** For logs and errors. */
  readonly name: string;
  readonly args?: readonly string[];
  /** Extra V8/Node flags (e.g. --expose-gc), before `--import tsx`. */
  readonly nodeFlags?: readonly string[];
  readonly readyTimeoutMs?: number;
  /** The child exits by itself after this long, whatever happens to the parent. */
  readonly maxLifetimeMs: number;
}

export class Child<Info = unknown> {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  private exited = false;
  private readonly exitPromise: Promise<void>;

  private constructor(
    readonly name: string,
    private readonly process: ChildProcess,
    readonly info: Info,
  ) {
    this.exitPromise = new Promise((resolve) => process.once('exit', () => resolve()));
    process.on('message', (message: Message) => this.onMessage(message));
    process.once('exit', (code, signal) => {
      this.exited = true;
      live.delete(process);
      for (const [, waiter] of this.pending) {
        clearTimeout(waiter.timer);
        waiter.reject(new Error(`${name} exited (code ${code}, signal ${signal}) with a request outstanding`));
      }
      this.pending.clear();
    });
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  /** Forks `file` (a .ts file, run through tsx) and waits for its `ready` message. */
  static async start<Info>(file: string, options: StartOptions): Promise<Child<Info>> {
    const child = fork(file, [...(options.args ?? [])], {
      cwd: REPO_ROOT,
      execArgv: [...(options.nodeFlags ?? []), ...profileFlags(options.name), '--import', 'tsx'],
      env: { ...process.env, [LIFETIME_ENV]: String(options.maxLifetimeMs) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    live.add(child);
    const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
    const info = await new Promise<Info>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`${options.name} not ready within ${readyTimeoutMs} ms`)), readyTimeoutMs);
      const onMessage = (message: Message) => {
        if (message.kind !== 'ready') return;
        cleanup();
        resolve(message.info as Info);
      };
      const onExit = (code: number | null) => fail(new Error(`${options.name} exited (code ${code}) before it was ready`));
      const cleanup = () => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      const fail = (error: Error) => {
        cleanup();
        child.kill('SIGKILL');
        reject(error);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
    return new Child(options.name, child, info);
  }

  /** Sends one request and waits for its reply, at most `timeoutMs`. */
  request<T>(type: string, payload: unknown, timeoutMs: number): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: no reply to "${type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      const message: RequestMessage = { kind: 'request', id, type, payload };
      this.process.send(message);
    });
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 3_000): Promise<void> {
    if (this.exited) return;
    this.process.kill('SIGTERM');
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    await this.exitPromise;
    clearTimeout(timer);
  }

  private onMessage(message: Message): void {
    if (message.kind !== 'reply') return;
    const waiter = this.pending.get(message.id);
    if (!waiter) return;
    this.pending.delete(message.id);
    clearTimeout(waiter.timer);
    if (message.ok) waiter.resolve(message.result);
    else waiter.reject(new Error(`${this.name}: ${message.error ?? 'failed'}`));
  }
}

/** Stops every child still alive (in parallel); for the runner's `finally`. */
export async function stopAll(children: Iterable<Child<unknown> | undefined>): Promise<void> {
  await Promise.all([...children].map((child) => child?.stop().catch(() => undefined)));
}

export type Handler = (payload: any) => unknown;

/**
 * The child's side: answers the parent's requests with `handlers`, announces `info` as ready, and
 * exits when the parent goes away, on SIGTERM, or when its lifetime cap runs out.
 */
export function serveParent(handlers: Readonly<Record<string, Handler>>, info: unknown, onExit?: () => void | Promise<void>): void {
  if (!process.send) throw new Error('this file runs as a child of bench/run.ts (child_process.fork), not on its own');
  const send = (message: Message) => {
    if (process.connected) process.send!(message);
  };
  let exiting = false;
  const exit = (code: number) => {
    if (exiting) return;
    exiting = true;
    // Cleanup gets a short while; the process goes regardless.
    setTimeout(() => process.exit(code), 2_000).unref();
    void Promise.resolve(onExit?.())
      .catch(() => undefined)
      .finally(() => process.exit(code));
  };
  process.on('message', (message: Message) => {
    if (message.kind !== 'request') return;
    const handler = handlers[message.type];
    if (!handler) {
      send({ kind: 'reply', id: message.id, ok: false, error: `unknown request "${message.type}"` });
      return;
    }
    Promise.resolve()
      .then(() => handler(message.payload))
      .then(
        (result) => send({ kind: 'reply', id: message.id, ok: true, result }),
        (error: unknown) => send({ kind: 'reply', id: message.id, ok: false, error: error instanceof Error ? error.stack ?? error.message : String(error) }),
      );
  });
  process.on('disconnect', () => exit(0));
  process.on('SIGTERM', () => exit(0));
  const lifetime = Number(process.env[LIFETIME_ENV] ?? 0);
  if (lifetime > 0) {
    setTimeout(() => {
      process.stderr.write(`bench child ${process.argv[1] ?? ''} reached its lifetime cap of ${lifetime} ms; exiting\n`);
      exit(3);
    }, lifetime).unref();
  }
  send({ kind: 'ready', info });
}

/**
 * With BENCH_CPU_PROFILE=<folder>, every child writes V8 CPU profiles there when it exits
 * (in `<name>-<n>/`, for Chrome's DevTools or speedscope): where a scenario's time goes.
 */
function profileFlags(name: string): string[] {
  const folder = process.env.BENCH_CPU_PROFILE;
  if (!folder) return [];
  profiled++;
  // A folder per child: each of its threads (tsx's loader has one) writes a profile of its own.
  return ['--cpu-prof', '--cpu-prof-dir', path.join(folder, `${name.replace(/[^\w.-]+/g, '_')}-${profiled}`)];
}
let profiled = 0;
