/**
 * A heartbeat body (contract 4.1) -> a Heartbeat: the contract's defaults and the rules the JSON
 * schema (schemas.ts) cannot express. Messages name the field: `<root>.<field>: <reason>`.
 */
import type { Heartbeat } from '../../registry/node.js';
import { parseHostPort } from '../../util/host-port.js';
import type { HeartbeatBody } from './schemas.js';

export class HeartbeatError extends Error {
  readonly statusCode = 400;
}

const MAX_EPOCH = BigInt(Number.MAX_SAFE_INTEGER);
const INTEGER_LITERAL = /^(0|[1-9][0-9]*)$/;

export interface AsWritten {
  /** The epoch's JSON text as sent, when known: JSON.parse reads 1e-400 as 0, so the value alone cannot tell. */
  readonly epoch?: string | undefined;
}

/** `body` has passed the schema; throws HeartbeatError naming every field that breaks a further rule. */
export function toHeartbeat(body: HeartbeatBody, asWritten: AsWritten = {}, root = 'body'): Heartbeat {
  const problems: string[] = [];
  const parsed = parseHostPort(body.address);
  if (!parsed.ok) problems.push(`${root}.address: ${parsed.reason}`);
  const epochProblem = asWritten.epoch === undefined ? undefined : epochLiteralProblem(asWritten.epoch.trim());
  if (epochProblem) problems.push(`${root}.epoch: ${epochProblem}`);
  if (!parsed.ok || problems.length > 0) throw new HeartbeatError(problems.join('; '));
  return {
    id: body.id ?? body.address,
    address: body.address,
    host: parsed.value.host,
    port: parsed.value.port,
    database: body.database,
    shard: body.shard,
    role: body.role,
    status: body.status ?? 'active',
    dc: body.dc,
    epoch: body.epoch ?? 0,
    labels: body.labels ?? {},
  };
}

function epochLiteralProblem(literal: string): string | undefined {
  if (INTEGER_LITERAL.test(literal) && BigInt(literal) <= MAX_EPOCH) return undefined;
  const shown = literal.length > 24 ? `${literal.slice(0, 24)}…` : literal;
  return `must be written as an integer 0..2^53-1 (decimal digits, no sign, fraction or exponent), got ${shown}`;
}
