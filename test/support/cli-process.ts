/** Runs the real CLI (from source, through tsx) as a child process and reads its JSON log lines. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = path.join(ROOT, 'src', 'cli.ts');

export interface CliRun {
  readonly child: ChildProcess;
  readonly lines: Array<Record<string, any>>;
  stdout: string;
  stderr: string;
  /** Resolves with the first log line matching, or rejects after timeoutMs. */
  waitForLine(match: (line: Record<string, any>) => boolean, timeoutMs?: number): Promise<Record<string, any>>;
  exited: Promise<number | null>;
}

export function runCli(args: string[], env: Record<string, string> = {}): CliRun {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const run: CliRun = {
    child,
    lines: [],
    stdout: '',
    stderr: '',
    waitForLine: (match, timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const found = run.lines.find(match);
        if (found) return resolve(found);
        const timer = setTimeout(() => reject(new Error(`no matching log line in ${timeoutMs} ms; stderr: ${run.stderr}`)), timeoutMs);
        const onLine = (line: Record<string, any>) => {
          if (!match(line)) return;
          clearTimeout(timer);
          child.stdout!.off('line', onLine);
          resolve(line);
        };
        child.stdout!.on('line', onLine);
      }),
    exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
  };
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    run.stdout += chunk.toString();
    partial += chunk.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const text of parts) {
      if (!text.startsWith('{')) continue;
      const line = JSON.parse(text) as Record<string, any>;
      run.lines.push(line);
      child.stdout!.emit('line', line);
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => (run.stderr += chunk.toString()));
  return run;
}
