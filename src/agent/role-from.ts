/**
 * `--role-from`: the node says its role and epoch, as text `master 7` / `replica 7` (the epoch may
 * be left out) or JSON `{"role": "master", "epoch": 7}` (other keys are ignored, so a node's status
 * endpoint can be read as it is). The epoch follows the heartbeat's rule: an integer 0..2^53-1.
 */
import type { RoleSource } from './flags.js';
import { httpGet, runCommand } from './node-query.js';

export interface NodeRole {
  readonly role: 'master' | 'replica';
  /** undefined: the node did not say; --epoch (or none) applies. */
  readonly epoch: number | undefined;
}

export type RoleReading = { ok: true; value: NodeRole } | { ok: false; reason: string };
export type RoleReader = (timeoutMs: number) => Promise<RoleReading>;

const TEXT = /^(master|replica)(?:[ \t]+([0-9]+))?$/;

export function parseRoleOutput(output: string): RoleReading {
  const text = output.trim();
  const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  if (text.startsWith('{')) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return { ok: false, reason: `"${shown}" is not JSON` };
    }
    const { role, epoch } = value as { role?: unknown; epoch?: unknown };
    if (role !== 'master' && role !== 'replica') return { ok: false, reason: `role: ${JSON.stringify(role) ?? 'missing'} is not "master" or "replica"` };
    if (epoch === undefined) return { ok: true, value: { role, epoch: undefined } };
    if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 0) return { ok: false, reason: `epoch: ${JSON.stringify(epoch)} is not an integer 0..2^53-1` };
    return { ok: true, value: { role, epoch } };
  }
  const match = TEXT.exec(text);
  if (!match) return { ok: false, reason: `"${shown}" is neither "master|replica [EPOCH]" nor JSON {"role", "epoch"}` };
  const epochText = match[2];
  if (epochText !== undefined && ((epochText.length > 1 && epochText.startsWith('0')) || !Number.isSafeInteger(Number(epochText)))) {
    return { ok: false, reason: `epoch "${epochText}" is not an integer 0..2^53-1 without leading zeros` };
  }
  return { ok: true, value: { role: match[1] as 'master' | 'replica', epoch: epochText === undefined ? undefined : Number(epochText) } };
}

export function makeRoleReader(source: RoleSource): RoleReader {
  const where = source.kind === 'http' ? `GET ${source.url}` : source.command;
  return async (timeoutMs) => {
    const answer = source.kind === 'http' ? await httpGet(source.url, timeoutMs) : await runCommand(source.command, timeoutMs);
    if (!answer.ok) return { ok: false, reason: `${where}: ${answer.reason}` };
    const reading = parseRoleOutput(answer.output);
    return reading.ok ? reading : { ok: false, reason: `${where}: ${reading.reason}` };
  };
}
