/**
 * The keys that let clients in another network reach each node (contract section 6):
 * `nodeListeners.ports` as one range ("6001-6100") or a list of front ends, each with the host
 * its clients use and its own range (load balancers with a listener limit, PrivateLink).
 */
import { isIP } from 'node:net';
import { isDnsName } from '../util/host-port.js';
import type { FrontEnd, NodeListenersConfig } from './types.js';
import type { PathSegment } from './errors.js';

type Fail = (segments: readonly PathSegment[], reason: string) => never;

export function isAdvertisableHost(host: string): boolean {
  return isIP(host) !== 0 || isDnsName(host);
}

export function parsePortRange(value: unknown): { ok: true; first: number; last: number } | { ok: false; reason: string } {
  if (typeof value !== 'string') return { ok: false, reason: `must be a port range like "6001-6100", got ${JSON.stringify(value)}` };
  const match = /^\s*([0-9]{1,5})\s*(?:-\s*([0-9]{1,5})\s*)?$/.exec(value);
  if (!match) return { ok: false, reason: `"${value}" is not a port range like "6001-6100"` };
  const first = Number(match[1]);
  const last = Number(match[2] ?? match[1]);
  if (first < 1 || last > 65535) return { ok: false, reason: `"${value}" goes outside 1..65535` };
  if (last < first) return { ok: false, reason: `"${value}" ends before it starts` };
  return { ok: true, first, last };
}

export function parseNodeListeners(
  raw: { listenHost?: string | undefined; ports: unknown },
  groupAdvertisedHost: string | undefined,
  at: (...rest: PathSegment[]) => PathSegment[],
  fail: Fail,
): NodeListenersConfig {
  const listenHost = raw.listenHost ?? '0.0.0.0';
  if (isIP(listenHost) === 0) fail(at('listenHost'), `"${listenHost}": an Envoy listener binds an IP address, not a host name`);

  const frontEnd = (advertisedHost: string | undefined, ports: unknown, path: PathSegment[], hostPath: PathSegment[]): FrontEnd => {
    const range = parsePortRange(ports);
    if (!range.ok) fail(path, range.reason);
    if (advertisedHost === undefined) fail(hostPath, 'is required: the host name clients of this group use to reach its Envoy');
    return { advertisedHost, firstPort: range.first, lastPort: range.last };
  };

  let frontEnds: FrontEnd[];
  if (Array.isArray(raw.ports)) {
    if (raw.ports.length === 0) fail(at('ports'), 'must list at least one front end');
    frontEnds = raw.ports.map((entry: unknown, i) => {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
        fail(at('ports', i), 'must be a front end like {advertisedHost: lb-1.example.com, ports: "6001-6050"}');
      }
      const { advertisedHost, ports, ...rest } = entry as Record<string, unknown>;
      const unknown = Object.keys(rest)[0];
      if (unknown !== undefined) fail(at('ports', i, unknown), 'unknown key; a front end has advertisedHost and ports');
      if (advertisedHost !== undefined && (typeof advertisedHost !== 'string' || !isAdvertisableHost(advertisedHost))) {
        fail(at('ports', i, 'advertisedHost'), `${JSON.stringify(advertisedHost)} is neither an IP address nor a DNS name`);
      }
      return frontEnd((advertisedHost as string | undefined) ?? groupAdvertisedHost, ports, at('ports', i, 'ports'), at('ports', i, 'advertisedHost'));
    });
  } else {
    frontEnds = [frontEnd(groupAdvertisedHost, raw.ports, at('ports'), [...at().slice(0, -1), 'advertisedHost'])];
  }
  return { listenHost, frontEnds };
}
