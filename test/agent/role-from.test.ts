/** --role-from: what a node prints, read as role and epoch. */
import { describe, expect, it } from 'vitest';
import { makeRoleReader, parseRoleOutput } from '../../src/agent/role-from.js';
import { withHttpServer } from './stand-in.js';

describe('role-from output', () => {
  it.each([
    ['master 7', 'master', 7],
    ['replica 7\n', 'replica', 7],
    ['  master\t12  ', 'master', 12],
    ['replica', 'replica', undefined],
    ['master 0', 'master', 0],
    ['master 9007199254740991', 'master', 9007199254740991],
    ['{"role":"master","epoch":7}', 'master', 7],
    ['{"role": "replica", "epoch": 3, "lag": 12, "state": "FOLLOWER"}\n', 'replica', 3],
    ['{"role":"replica"}', 'replica', undefined],
  ])('reads %j', (text, role, epoch) => {
    expect(parseRoleOutput(text)).toEqual({ ok: true, value: { role, epoch } });
  });

  it.each([
    ['', 'is neither'],
    ['leader 7', 'is neither'],
    ['Master 7', 'is neither'],
    ['master 7 8', 'is neither'],
    ['master -1', 'is neither'],
    ['master 1.5', 'is neither'],
    ['master 07', 'leading zeros'],
    ['master 9007199254740993', 'not an integer'],
    ['{"role":"leader","epoch":1}', 'role: "leader" is not'],
    ['{"epoch":1}', 'role: missing'],
    ['{"role":"master","epoch":"7"}', 'epoch: "7" is not an integer'],
    ['{"role":"master","epoch":1.5}', 'epoch: 1.5'],
    ['{"role":"master","epoch":-1}', 'epoch: -1'],
    ['{"role":', 'is not JSON'],
  ])('refuses %j', (text, reason) => {
    const reading = parseRoleOutput(text);
    expect(reading.ok).toBe(false);
    if (!reading.ok) expect(reading.reason).toContain(reason);
  });

  it('reads a command and a URL, and says what failed', async () => {
    expect(await makeRoleReader({ kind: 'exec', command: 'echo master 7' })(2_000)).toEqual({ ok: true, value: { role: 'master', epoch: 7 } });
    const failed = await makeRoleReader({ kind: 'exec', command: 'echo nope >&2; exit 3' })(2_000);
    expect(failed).toEqual({ ok: false, reason: 'echo nope >&2; exit 3: exited 3: nope' });
    await withHttpServer(
      (request, response) => {
        if (request.url === '/role') response.end('{"role":"replica","epoch":4}');
        else response.writeHead(503).end('down');
      },
      async (base) => {
        expect(await makeRoleReader({ kind: 'http', url: `${base}/role` })(2_000)).toEqual({ ok: true, value: { role: 'replica', epoch: 4 } });
        expect(await makeRoleReader({ kind: 'http', url: `${base}/other` })(2_000)).toEqual({ ok: false, reason: `GET ${base}/other: HTTP 503` });
      },
    );
  });
});
