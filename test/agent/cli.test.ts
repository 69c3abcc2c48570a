/** `shardvoy agent` on the command line: --help, and bad flags exit 2 with one line naming the flag. */
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, type CliRun } from '../support/cli-process.js';
import { PROCESS_TIMEOUT_MS } from './fixtures.js';

const running: CliRun[] = [];
function cli(args: string[]): CliRun {
  const run = runCli(args);
  running.push(run);
  return run;
}

afterEach(() => {
  for (const run of running.splice(0)) if (run.child.exitCode === null) run.child.kill('SIGKILL');
});

const NODE = ['--id', 'broker-1', '--address', '127.0.0.1:9092', '--database', 'kafka', '--shard', 'brokers', '--role', 'master'];

describe('shardvoy agent command line', { timeout: PROCESS_TIMEOUT_MS }, () => {
  it('prints its usage with every flag, and the main usage names it', async () => {
    const help = cli(['agent', '--help']);
    expect(await help.exited).toBe(0);
    for (const flag of ['--server', '--id', '--address', '--database', '--shard', '--role', '--dc', '--epoch', '--label', '--probe', '--role-from', '--advertised-file', '--template', '--wait-advertised', '--token', '--token-file', '--interval', '--log-level']) {
      expect(help.stdout).toContain(flag);
    }
    const main = cli(['--help']);
    expect(await main.exited).toBe(0);
    expect(main.stdout).toContain('shardvoy agent --server URL');
  });

  it.each([
    [['agent', '--server', 'http://127.0.0.1:1', ...NODE, '--bogus'], '--bogus: unknown flag'],
    [['agent', ...NODE], '--server: is required'],
    [['agent', '--server', 'http://127.0.0.1:1', ...NODE.slice(0, -2), '--role', 'leader'], '--role: '],
    [['agent', '--server', 'http://127.0.0.1:1', ...NODE, '--shard', 'bad name!'], '--shard: given more than once'],
    [['agent', '--server', 'http://127.0.0.1:1', ...NODE.slice(0, 6), '--shard', 'bad name!', '--role', 'master'], '--shard: must match pattern'],
    [['agent', '--server', 'http://127.0.0.1:1', ...NODE, '--interval', '-1'], '--interval: needs a value'],
    [['agent', '--server', 'http://127.0.0.1:1', ...NODE, '--token-file', '/nonexistent/token'], '--token-file: cannot read /nonexistent/token'],
    [['--log-level', 'debug', 'agent'], 'agent: its flags follow it'],
  ])('exits 2 with one line naming the flag for %j', async (args, text) => {
    const run = cli(args);
    expect(await run.exited).toBe(2);
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(text);
    expect(run.stdout).toBe('');
  });
});
