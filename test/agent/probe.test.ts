/** --probe: tcp, http and exec, each passing, failing and timing out. */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { makeProbe } from '../../src/agent/probe.js';
import { withHttpServer } from './stand-in.js';

async function listening(): Promise<net.Server> {
  const server = net.createServer((socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

describe('probes', () => {
  it('tcp passes while the address accepts connections, and fails once it refuses them', async () => {
    const server = await listening();
    const port = (server.address() as AddressInfo).port;
    const probe = makeProbe({ kind: 'tcp' }, { host: '127.0.0.1', port });
    expect(await probe(1_000)).toEqual({ ok: true });
    await new Promise((resolve) => server.close(resolve));
    expect(await probe(1_000)).toEqual({ ok: false, reason: `connect to 127.0.0.1:${port}: ECONNREFUSED` });
  });

  it('tcp fails within its timeout when nothing answers', async () => {
    // 192.0.2.0/24 is TEST-NET-1: never routed, so the connect hangs (or fails at once without a route).
    const started = Date.now();
    const result = await makeProbe({ kind: 'tcp' }, { host: '192.0.2.1', port: 9 })(300);
    expect(result.ok).toBe(false);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('http passes on 2xx and 3xx, and fails on other answers, on no answer and on no server', async () => {
    await withHttpServer(
      (request, response) => {
        if (request.url === '/ok') response.end('ok');
        else if (request.url === '/moved') response.writeHead(302, { location: '/elsewhere' }).end();
        else if (request.url === '/slow') setTimeout(() => response.end('late'), 2_000);
        else response.writeHead(500).end('broken');
      },
      async (base) => {
        expect(await makeProbe({ kind: 'http', url: `${base}/ok` }, { host: '127.0.0.1', port: 1 })(1_000)).toEqual({ ok: true });
        expect(await makeProbe({ kind: 'http', url: `${base}/moved` }, { host: '127.0.0.1', port: 1 })(1_000)).toEqual({ ok: true });
        expect(await makeProbe({ kind: 'http', url: `${base}/broken` }, { host: '127.0.0.1', port: 1 })(1_000)).toEqual({ ok: false, reason: `GET ${base}/broken: HTTP 500` });
        expect(await makeProbe({ kind: 'http', url: `${base}/slow` }, { host: '127.0.0.1', port: 1 })(200)).toEqual({ ok: false, reason: `GET ${base}/slow: no answer within 200 ms` });
      },
    );
    const server = await listening();
    const port = (server.address() as AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    const result = await makeProbe({ kind: 'http', url: `http://127.0.0.1:${port}/` }, { host: '127.0.0.1', port: 1 })(1_000);
    expect(result).toEqual({ ok: false, reason: `GET http://127.0.0.1:${port}/: ECONNREFUSED` });
  });

  it('exec passes on exit 0, fails on another exit with the last line it printed, and kills a command that overruns', async () => {
    const address = { host: '127.0.0.1', port: 1 };
    expect(await makeProbe({ kind: 'exec', command: 'true' }, address)(2_000)).toEqual({ ok: true });
    expect(await makeProbe({ kind: 'exec', command: 'echo first >&2; echo not ready >&2; exit 1' }, address)(2_000)).toEqual({
      ok: false,
      reason: 'echo first >&2; echo not ready >&2; exit 1: exited 1: not ready',
    });
    const started = Date.now();
    expect(await makeProbe({ kind: 'exec', command: 'sleep 5' }, address)(200)).toEqual({ ok: false, reason: 'sleep 5: no answer within 200 ms' });
    expect(Date.now() - started).toBeLessThan(1_500);
  });
});
