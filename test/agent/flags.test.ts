/** `shardvoy agent` flags: every one read, every bad one refused with a message led by its name. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAgentArgs, type AgentOptions } from '../../src/agent/flags.js';
import { UsageError } from '../../src/usage-error.js';

const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-agent-flags-'));
const templateIn = path.join(dir, 'server.properties.in');
writeFileSync(templateIn, 'advertised.listeners=EXTERNAL://{{advertised.privatelink}}\n');
const badTemplate = path.join(dir, 'bad.in');
writeFileSync(badTemplate, 'a=1\nb={{advertised.privatelink}}\nc={{ advertized.privatelink }}\n');
const tokenFile = path.join(dir, 'token');
writeFileSync(tokenFile, 's3cret\n');
const emptyTokenFile = path.join(dir, 'empty-token');
writeFileSync(emptyTokenFile, '\n');

const REQUIRED = ['--server', 'http://127.0.0.1:8082', '--id', 'broker-1', '--address', '10.0.0.1:9092', '--database', 'kafka', '--shard', 'brokers', '--role', 'master'];

function parse(extra: string[] = [], base = REQUIRED, env: NodeJS.ProcessEnv = {}): AgentOptions {
  const command = parseAgentArgs([...base, ...extra], env);
  if (command.command !== 'agent') throw new Error('not an agent command');
  return command.options;
}

function refusal(args: string[]): string {
  try {
    parseAgentArgs(args, {});
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(args)}`);
}

function without(flag: string): string[] {
  const i = REQUIRED.indexOf(flag);
  return [...REQUIRED.slice(0, i), ...REQUIRED.slice(i + 2)];
}

describe('shardvoy agent flags', () => {
  it('reads the required flags, with the defaults for the rest', () => {
    const options = parse();
    expect(options.servers.map((s) => [s.label, s.heartbeatUrl.href])).toEqual([['http://127.0.0.1:8082', 'http://127.0.0.1:8082/v1/heartbeat']]);
    expect(options.node).toEqual({ id: 'broker-1', address: '10.0.0.1:9092', database: 'kafka', shard: 'brokers', role: 'master' });
    expect(options.probe).toEqual({ kind: 'tcp' });
    expect(options.roleFrom).toBeUndefined();
    expect(options.advertisedFile).toBeUndefined();
    expect(options.templates).toEqual([]);
    expect(options.waitAdvertised).toBe(false);
    expect(options.token).toBeUndefined();
    expect(options.intervalSeconds).toBeUndefined();
    expect(options.logLevel).toBe('info');
  });

  it('reads every other flag', () => {
    const options = parse([
      '--server', 'https://sv-2.example.com:8443/base,http://[::1]:8082/',
      '--dc', 'dc1',
      '--epoch', '7',
      '--label', 'rack=r1',
      '--label', 'zone=a=b',
      '--probe', 'http://127.0.0.1:8080/health',
      '--role-from', 'exec:cat /run/role',
      '--advertised-file', path.join(dir, 'advertised.json'),
      '--template', `${templateIn}:${path.join(dir, 'server.properties')}`,
      '--wait-advertised',
      '--token-file', tokenFile,
      '--interval', '2.5',
      '--log-level', 'debug',
    ]);
    expect(options.servers.map((s) => s.heartbeatUrl.href)).toEqual([
      'http://127.0.0.1:8082/v1/heartbeat',
      'https://sv-2.example.com:8443/base/v1/heartbeat',
      'http://[::1]:8082/v1/heartbeat',
    ]);
    expect(options.node).toEqual({
      id: 'broker-1', address: '10.0.0.1:9092', database: 'kafka', shard: 'brokers', role: 'master',
      dc: 'dc1', epoch: 7, labels: { rack: 'r1', zone: 'a=b' },
    });
    expect(options.probe).toEqual({ kind: 'http', url: 'http://127.0.0.1:8080/health' });
    expect(options.roleFrom).toEqual({ kind: 'exec', command: 'cat /run/role' });
    expect(options.advertisedFile).toBe(path.join(dir, 'advertised.json'));
    expect(options.templates.map((t) => [t.input, t.output])).toEqual([[templateIn, path.join(dir, 'server.properties')]]);
    expect(options.waitAdvertised).toBe(true);
    expect(options.token).toEqual({ kind: 'file', path: tokenFile });
    expect(options.intervalSeconds).toBe(2.5);
    expect(options.logLevel).toBe('debug');
  });

  it('reads the other probe and role-from forms, an inline token and the log level from the environment', () => {
    expect(parse(['--probe', 'exec:pg_isready -q']).probe).toEqual({ kind: 'exec', command: 'pg_isready -q' });
    expect(parse(['--probe', 'tcp']).probe).toEqual({ kind: 'tcp' });
    expect(parse(['--role-from', 'http://127.0.0.1:8080/role']).roleFrom).toEqual({ kind: 'http', url: 'http://127.0.0.1:8080/role' });
    expect(parse(['--token', ' t0ken ']).token).toEqual({ kind: 'inline', token: 't0ken' });
    expect(parse([], REQUIRED, { SHARDVOY_LOG_LEVEL: 'warn' }).logLevel).toBe('warn');
    expect(parse(['--log-level', 'error'], REQUIRED, { SHARDVOY_LOG_LEVEL: 'warn' }).logLevel).toBe('error');
    expect(parse(['--role', 'replica'], without('--role')).node.role).toBe('replica');
    expect(parse(['--server', 'http://a:1', '--server', 'http://b:2'], without('--server')).servers.map((s) => s.label)).toEqual(['http://a:1', 'http://b:2']);
    expect(parse(['--server', 'http://a:1/v1/heartbeat,http://b:2/prefix/v1/heartbeat/'], without('--server')).servers.map((s) => s.heartbeatUrl.href)).toEqual([
      'http://a:1/v1/heartbeat',
      'http://b:2/prefix/v1/heartbeat',
    ]);
  });

  it('answers --help', () => {
    expect(parseAgentArgs(['--help'], {})).toEqual({ command: 'agent-help' });
    expect(parseAgentArgs(['-h'], {})).toEqual({ command: 'agent-help' });
  });

  it.each(['--server', '--id', '--address', '--database', '--shard', '--role'])('requires %s', (flag) => {
    expect(refusal(without(flag))).toBe(`${flag}: is required`);
  });

  const missingFolder = path.join(dir, 'no-such-folder', 'out');
  it.each([
    [['--bogus'], '--bogus: unknown flag'],
    [['--server'], '--server: needs a value'],
    [['--wait-advertised=yes'], '--wait-advertised: takes no value'],
    [['stray'], 'unexpected argument "stray"'],
    [['--id', 'again'], '--id: given more than once'],
    [['--server', 'ftp://x'], '--server: "ftp://x" is not an http:// or https:// URL'],
    [['--server', 'localhost:8082'], '--server: "localhost:8082" is not an http:// or https:// URL'],
    [['--server', 'not a url'], '--server: "not a url" is not a URL'],
    [['--server', 'http://a:1,,http://b:2'], '--server: an empty URL in the list'],
    [['--server', 'http://user:pw@a:1'], '--server: "a:1": credentials in the URL are not supported'],
    [['--server', 'http://a:1/?x=1'], '--server: "http://a:1/?x=1": no query or fragment'],
    [['--id', 'has space'], '--id: must match pattern'],
    [['--address', '10.0.0.1'], '--address: must be host:port'],
    [['--address', '10.0.0.1:99999'], '--address: port 99999 is outside 1..65535'],
    [['--address', '10.0.0.1:09092'], '--address: port "09092" has a leading zero'],
    [['--database', ''], '--database: must match pattern'],
    [['--shard', 'bad name!'], '--shard: must match pattern'],
    [['--role', 'leader'], '--role: must be equal to one of the allowed values (role: master or replica)'],
    [['--dc', 'dc 1'], '--dc: must match pattern'],
    [['--epoch', '-1'], '--epoch: needs a value'],
    [['--epoch', 'seven'], '--epoch: "seven" is not a whole number'],
    [['--epoch', '07'], '--epoch: "07" is not a whole number'],
    [['--epoch', '1e3'], '--epoch: "1e3" is not a whole number'],
    [['--epoch', '9007199254740993'], '--epoch: must be <= 9007199254740991'],
    [['--label', 'rack'], '--label: "rack" is not key=value'],
    [['--label', '=r1'], '--label: "=r1" is not key=value'],
    [['--label', 'rack=a', '--label', 'rack=b'], '--label: "rack" given twice'],
    [['--label', `rack=${'x'.repeat(300)}`], '--label rack: must NOT have more than 256 characters'],
    [['--probe', 'udp'], '--probe: "udp" is not one of tcp, http://…, https://… or exec:COMMAND'],
    [['--probe', 'exec:'], '--probe: exec: needs a command'],
    [['--role-from', 'tcp'], '--role-from: "tcp" is not one of http://…, https://… or exec:COMMAND'],
    [['--role-from', 'exec:  '], '--role-from: exec: needs a command'],
    [['--advertised-file', missingFolder], `--advertised-file: ${missingFolder}: folder`],
    [['--advertised-file', dir], `--advertised-file: ${dir} is a folder`],
    [['--template', templateIn], `--template: "${templateIn}" is not IN:OUT`],
    [['--template', `${path.join(dir, 'missing.in')}:${path.join(dir, 'out')}`], '--template: cannot read'],
    [['--template', `${templateIn}:${missingFolder}`], `--template: ${missingFolder}: folder`],
    [['--template', `${templateIn}:${templateIn}`], '--template: '],
    [['--template', `${badTemplate}:${path.join(dir, 'out')}`], '--template: ' + badTemplate + ': line 3: unknown placeholder {{ advertized.privatelink }}'],
    [['--advertised-file', path.join(dir, 'same'), '--template', `${templateIn}:${path.join(dir, 'same')}`], '--template: '],
    [['--wait-advertised'], '--wait-advertised: needs --advertised-file or --template'],
    [['--token', ''], '--token: is empty'],
    [['--token', 'a', '--token-file', tokenFile], '--token-file: give --token or --token-file, not both'],
    [['--token-file', path.join(dir, 'no-token')], '--token-file: cannot read'],
    [['--token-file', emptyTokenFile], '--token-file: '],
    [['--interval', '0'], '--interval: "0" is not a number of seconds above 0'],
    [['--interval', 'fast'], '--interval: "fast"'],
    [['--interval', '100000'], '--interval: "100000"'],
    [['--log-level', 'loud'], '--log-level: "loud" is not one of'],
  ])('refuses %j naming the flag', (extra, message) => {
    // A required flag given here stands instead of the good one (but --id twice is its own case).
    const base = REQUIRED.includes(extra[0]!) && extra[1] !== 'again' ? without(extra[0]!) : REQUIRED;
    const text = refusal([...base, ...extra]);
    expect(text.startsWith(message) || text.includes(message)).toBe(true);
    expect(text).not.toContain('\n');
    // The flag comes first, as everywhere else in the CLI.
    const flag = message.match(/^--[a-z-]+/)?.[0];
    if (flag) expect(text.startsWith(flag)).toBe(true);
  });

  it('never echoes a token in its refusals', () => {
    const text = refusal([...REQUIRED, '--token', 'hunter2', '--token-file', tokenFile]);
    expect(text).not.toContain('hunter2');
  });
});
