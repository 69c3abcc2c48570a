/**
 * `--probe`: is the node up? `tcp` (the default) connects to `--address`; `http://…` passes on
 * 2xx and 3xx; `exec:CMD` passes when the command exits 0. A probe that does not answer within
 * its timeout fails.
 */
import net from 'node:net';
import type { ProbeSpec } from './flags.js';
import { httpGet, runCommand } from './node-query.js';

export type ProbeResult = { ok: true } | { ok: false; reason: string };
export type Probe = (timeoutMs: number) => Promise<ProbeResult>;

export function makeProbe(spec: ProbeSpec, address: { host: string; port: number }): Probe {
  switch (spec.kind) {
    case 'tcp':
      return (timeoutMs) => tcpConnect(address.host, address.port, timeoutMs);
    case 'http':
      return async (timeoutMs) => {
        const answer = await httpGet(spec.url, timeoutMs, { redirectsPass: true });
        return answer.ok ? { ok: true } : { ok: false, reason: `GET ${spec.url}: ${answer.reason}` };
      };
    case 'exec':
      return async (timeoutMs) => {
        const answer = await runCommand(spec.command, timeoutMs);
        return answer.ok ? { ok: true } : { ok: false, reason: `${spec.command}: ${answer.reason}` };
      };
  }
}

function tcpConnect(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const finish = (result: ProbeResult) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ ok: false, reason: `connect to ${where}: no answer within ${timeoutMs} ms` }), timeoutMs);
    socket.once('connect', () => finish({ ok: true }));
    socket.once('error', (error: NodeJS.ErrnoException) => finish({ ok: false, reason: `connect to ${where}: ${error.code ?? error.message}` }));
  });
}
