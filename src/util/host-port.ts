/**
 * `host:port` as the contract defines it: port 1..65535 in decimal without leading zeros (0
 * allowed only where a listen address may ask for a free port), host an IPv4 address, a
 * bracketed IPv6 address or a DNS name.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { HostPort } from '../config/types.js';

export type HostPortResult = { ok: true; value: HostPort } | { ok: false; reason: string };

const DNS_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const DIGITS = /^[0-9]+$/;

export function isDnsName(host: string): boolean {
  // The root dot of a fully qualified name does not count toward the 253 characters.
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  // A name made only of digits and dots is a malformed IPv4 address, not a host name.
  if (labels.every((label) => DIGITS.test(label))) return false;
  return labels.every((label) => DNS_LABEL.test(label));
}

export function parseHostPort(text: string, options: { allowPortZero?: boolean } = {}): HostPortResult {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return { ok: false, reason: 'must be [IPv6]:port' };
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    // A zone index ("%eth0") names an interface of the node's own host: meaningless elsewhere.
    if (host.includes('%')) return { ok: false, reason: `"${host}" has a zone index, which only means something on its own host` };
    if (!isIPv6(host)) return { ok: false, reason: `"${host}" is not an IPv6 address` };
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return { ok: false, reason: 'must be host:port' };
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) return { ok: false, reason: 'an IPv6 host must be in brackets, as [::1]:port' };
    if (!isIPv4(host) && !isDnsName(host)) {
      return { ok: false, reason: `host "${host}" is neither an IPv4 address nor a DNS name` };
    }
  }
  if (!DIGITS.test(portText)) return { ok: false, reason: `port "${portText}" is not a number` };
  // "09201" is port 9201 under another spelling: a second address (and node id) for one node.
  if (portText.length > 1 && portText.startsWith('0')) return { ok: false, reason: `port "${portText}" has a leading zero` };
  const port = Number(portText);
  const min = options.allowPortZero ? 0 : 1;
  if (port < min || port > 65535) return { ok: false, reason: `port ${portText} is outside ${min}..65535` };
  return { ok: true, value: { host, port } };
}

export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
