/**
 * Asking the node something, for probes and --role-from: run a command (`sh -c`, in a process
 * group of its own so a timeout kills all of it), or GET a URL. Bounded in time and output.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export type Answer = { ok: true; output: string } | { ok: false; reason: string };

const MAX_OUTPUT = 64 * 1024;
const running = new Set<ChildProcess>();

export function runCommand(command: string, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    running.add(child);
    let stdout = '';
    let stderr = '';
    let settled = false;
    const finish = (answer: Answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      running.delete(child);
      resolve(answer);
    };
    const timer = setTimeout(() => {
      killGroup(child);
      finish({ ok: false, reason: `no answer within ${timeoutMs} ms` });
    }, Math.ceil(timeoutMs));
    child.stdout!.on('data', (chunk: Buffer) => {
      if (stdout.length < MAX_OUTPUT) stdout += chunk.toString();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-500);
    });
    child.on('error', (error) => finish({ ok: false, reason: error.message }));
    child.on('close', (code, signal) => {
      if (code === 0) return finish({ ok: true, output: stdout.slice(0, MAX_OUTPUT) });
      const how = code === null ? `was killed by ${signal}` : `exited ${code}`;
      const said = stderr.trim().split('\n').pop();
      finish({ ok: false, reason: said ? `${how}: ${said}` : how });
    });
  });
}

/** A 2xx answer (3xx too with `redirectsPass`, as Kubernetes' HTTP probes count them) and its body. */
export async function httpGet(url: string, timeoutMs: number, options: { redirectsPass?: boolean } = {}): Promise<Answer> {
  let response: Response;
  try {
    response = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(Math.ceil(timeoutMs)) });
  } catch (error) {
    return { ok: false, reason: describeFetchError(error, timeoutMs) };
  }
  const passing = response.status >= 200 && response.status < (options.redirectsPass ? 400 : 300);
  let body: string;
  try {
    body = (await response.text()).slice(0, MAX_OUTPUT);
  } catch (error) {
    return { ok: false, reason: describeFetchError(error, timeoutMs) };
  }
  return passing ? { ok: true, output: body } : { ok: false, reason: `HTTP ${response.status}` };
}

/** fetch's errors say "fetch failed"; what happened is in the cause (ECONNREFUSED, …). */
export function describeFetchError(error: unknown, timeoutMs: number): string {
  const e = error as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  return e.cause?.code ?? e.cause?.message ?? e.message;
}

/** At shutdown: no probe outlives the agent. */
export function stopCommands(): void {
  for (const child of running) killGroup(child);
  running.clear();
}

function killGroup(child: ChildProcess): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}
