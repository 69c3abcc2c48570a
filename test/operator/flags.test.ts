/** The operator commands' flags: each mistake is one line naming the flag; the token is never echoed. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseOperatorArgs, type OperatorCommand } from '../../src/operator/flags.js';

const parse = (command: OperatorCommand, args: string[], env: NodeJS.ProcessEnv = {}) => parseOperatorArgs(command, args, env);
const options = (command: OperatorCommand, args: string[], env: NodeJS.ProcessEnv = {}) => {
  const invocation = parse(command, args, env);
  if (invocation.help) throw new Error('help');
  return invocation.options;
};

describe('operator flags', () => {
  it('defaults: table, http://127.0.0.1:8082, no token, no watch', () => {
    expect(options('status', [])).toMatchObject({ output: 'table', watch: false, token: undefined, timeoutMs: 5000 });
    expect(options('status', []).server.href).toBe('http://127.0.0.1:8082/');
  });

  it('takes the server and the token from the environment, a flag winning; keeps a path prefix', () => {
    const env = { SHARDVOY_SERVER: 'http://sv:9000/api', SHARDVOY_TOKEN: 'from-env' };
    expect(options('nodes', ['-o', 'json', '-w'], env)).toMatchObject({ output: 'json', watch: true, token: 'from-env' });
    expect(options('nodes', [], env).server.href).toBe('http://sv:9000/api/');
    expect(options('nodes', ['--server', 'https://other:1', '--token', 'flag'], env)).toMatchObject({ token: 'flag' });
    expect(options('nodes', ['--server', 'https://other:1'], env).server.href).toBe('https://other:1/');
  });

  it('drain takes an id and a reason; events a since', () => {
    expect(options('drain', ['n-1', '--reason', 'disk swap'])).toMatchObject({ id: 'n-1', reason: 'disk swap' });
    expect(options('forget', ['[::1]:9000'])).toMatchObject({ id: '[::1]:9000' });
    expect(options('events', ['--since', '12'])).toMatchObject({ since: 12 });
    expect(parse('check', ['--help'])).toEqual({ help: true, command: 'check' });
  });

  it.each([
    ['status', ['--bogus'], '--bogus: unknown flag'],
    ['status', ['-o'], '-o: needs a value'],
    ['status', ['-o', 'xml'], '-o: "xml" is not one of table, wide, json, yaml'],
    ['status', ['extra'], 'status: unexpected argument "extra"'],
    ['status', ['--server', 'localhost:8082'], '--server: "localhost:8082" is not an http:// or https:// URL'],
    ['status', ['--server', 'not a url'], '--server: "not a url" is not a URL'],
    ['status', ['--server', 'http://u:p@h:1'], '--server: "h:1": credentials in the URL are not supported'],
    ['status', ['--timeout', '0'], '--timeout: "0" is not a number of seconds above 0'],
    ['status', ['-w', '-w'], '-w: given more than once'],
    ['check', ['-w'], '-w: check does not take it'],
    ['nodes', ['--reason', 'x'], '--reason: nodes does not take it'],
    ['drain', [], 'drain: the node\'s id is required'],
    ['undrain', ['a', 'b'], 'undrain: unexpected argument "b"'],
    ['drain', ['a', '--reason', ''], '--reason: must NOT have fewer than 1 characters'],
    ['drain', ['a', '--reason', 'x'.repeat(1025)], '--reason: must NOT have more than 1024 characters'],
    ['events', ['--since', 'ten'], '--since: "ten" is not an event id'],
    ['status', ['--token', ''], '--token: is empty'],
  ] as const)('%s: %s', (command, args, message) => {
    expect(() => parse(command, [...args])).toThrow(message);
  });

  it('never puts the token in a message', () => {
    expect(() => parse('status', ['--token', 'Bearer s3cret'])).toThrow(/^--token: holds white space/);
    expect(() => parse('status', [], { SHARDVOY_TOKEN: 'a s3cret' })).toThrow(/^SHARDVOY_TOKEN: holds white space/);
    for (const args of [['--token', 'Bearer s3cret'], ['--token', 's3cret', '--bogus']]) {
      try {
        parse('status', args);
      } catch (error) {
        expect((error as Error).message).not.toContain('s3cret');
      }
    }
  });

  it('reads the TLS files once, a flag winning over its variable; a missing half, an unreadable file or one without PEM names its flag', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-tls-flags-'));
    const ca = path.join(dir, 'ca.crt');
    const cert = path.join(dir, 'client.crt');
    const key = path.join(dir, 'client.key');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n');
    writeFileSync(cert, '-----BEGIN CERTIFICATE-----\nME\n-----END CERTIFICATE-----\n');
    writeFileSync(key, '-----BEGIN EC PRIVATE KEY-----\nK\n-----END EC PRIVATE KEY-----\n');
    const https = ['--server', 'https://sv:8082'];
    expect(options('status', []).tls).toBeUndefined();
    expect(() => parse('status', ['--cacert', ca])).toThrow('--cacert: the server is http://; TLS files are for an https:// server');
    expect(options('status', [...https, '--cacert', ca]).tls).toEqual({ ca: readFileSync(ca, 'utf8') });
    expect(options('status', [...https, '--cert', cert, '--key', key]).tls).toEqual({ cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') });
    expect(options('status', [...https, '--cacert', ca], { SHARDVOY_CACERT: '/nowhere' }).tls?.ca).toContain('CA');
    expect(() => parse('status', https, { SHARDVOY_CACERT: '/nowhere/ca.crt' })).toThrow('SHARDVOY_CACERT: cannot read /nowhere/ca.crt (ENOENT)');
    expect(() => parse('status', [...https, '--cert', cert])).toThrow("--cert: needs the certificate's private key too (--key or SHARDVOY_KEY)");
    expect(() => parse('status', [...https, '--key', key])).toThrow('--key: needs the client certificate too (--cert or SHARDVOY_CERT)');
    expect(() => parse('status', [...https, '--cacert', key])).toThrow(`--cacert: ${key} holds no PEM certificate`);
    expect(() => parse('status', [...https, '--cert', cert, '--key', ca])).toThrow(`--key: ${ca} holds no PEM private key`);
    expect(() => parse('status', [...https, '--cacert', ''])).toThrow('--cacert: needs a file');
  });
});
