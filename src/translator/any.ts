import { envoyType } from '../envoy-api/protos.js';
import { TYPE_URL_PREFIX } from '../envoy-api/type-urls.js';

/** google.protobuf.Any as protobufjs encodes it. */
export interface AnyValue {
  readonly type_url: string;
  readonly value: Uint8Array;
}

/**
 * Encodes a message given as a plain object into an Any. The object must be encode-ready: proto
 * field names, enums as numbers, nested messages as objects (what the translator builds).
 */
export function packAny(messageName: string, fields: Record<string, unknown>): AnyValue {
  return { type_url: TYPE_URL_PREFIX + messageName, value: encodeMessage(messageName, fields) };
}

export function encodeMessage(messageName: string, fields: Record<string, unknown>): Uint8Array {
  return envoyType(messageName).encode(fields).finish();
}
