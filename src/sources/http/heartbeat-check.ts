/**
 * A heartbeat body checked outside a request (the state file re-checks every node it loads),
 * by the route's very rules: the same schema compiled with the app's Ajv options (refuse, never
 * repair), errors worded by the same formatter, then the same toHeartbeat.
 */
import { Ajv } from 'ajv';
import type { Heartbeat } from '../../registry/node.js';
import { HeartbeatError, toHeartbeat } from './heartbeat-body.js';
import { HeartbeatBody } from './schemas.js';
import { describeErrors } from './validation-errors.js';

const ajv = new Ajv({ coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: true, verbose: true });
const validBody = ajv.compile<HeartbeatBody>(HeartbeatBody);
const validId = ajv.compile<string>(HeartbeatBody.properties.id);

export type HeartbeatCheck = { ok: true; heartbeat: Heartbeat } | { ok: false; message: string };

/** `root` names the value in messages, as `body` does for a request. */
export function checkHeartbeatBody(value: unknown, root: string): HeartbeatCheck {
  if (!validBody(value)) return { ok: false, message: describeErrors(root, validBody.errors ?? []) };
  try {
    return { ok: true, heartbeat: toHeartbeat(value, {}, root) };
  } catch (error) {
    if (error instanceof HeartbeatError) return { ok: false, message: error.message };
    throw error;
  }
}

/** A node id by the heartbeat's `id` rule; the reason, or undefined if valid. */
export function nodeIdProblem(value: unknown, field: string): string | undefined {
  return validId(value) ? undefined : describeErrors(field, validId.errors ?? []);
}
