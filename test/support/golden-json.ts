/**
 * Encoded Envoy messages -> readable proto3-JSON-like objects for golden files and assertions:
 * Any expanded with "@type", Durations as "1.5s", wrappers as bare values, enums by name.
 */
import type protobuf from 'protobufjs';
import { envoyRoot, envoyType } from '../../src/envoy-api/protos.js';
import { messageNameOf } from '../../src/envoy-api/type-urls.js';

const WRAPPERS = new Set([
  'google.protobuf.UInt32Value',
  'google.protobuf.UInt64Value',
  'google.protobuf.Int32Value',
  'google.protobuf.Int64Value',
  'google.protobuf.BoolValue',
  'google.protobuf.StringValue',
  'google.protobuf.DoubleValue',
  'google.protobuf.FloatValue',
]);

export function decodeToJson(typeName: string, bytes: Uint8Array): Record<string, unknown> {
  const type = envoyType(typeName);
  return messageToJson(type, type.decode(bytes)) as Record<string, unknown>;
}

function fullName(type: protobuf.Type): string {
  return type.fullName.replace(/^\./, '');
}

function messageToJson(type: protobuf.Type, message: protobuf.Message | Record<string, unknown>): unknown {
  const name = fullName(type);
  const m = message as Record<string, unknown>;
  if (name === 'google.protobuf.Any') {
    const typeUrl = String(m.type_url ?? '');
    const inner = envoyRoot().lookupType(messageNameOf(typeUrl));
    return { '@type': typeUrl, ...(messageToJson(inner, inner.decode(m.value as Uint8Array)) as object) };
  }
  if (name === 'google.protobuf.Duration') {
    const seconds = Number(m.seconds ?? 0);
    const nanos = Number(m.nanos ?? 0);
    return `${seconds + nanos / 1e9}s`;
  }
  if (WRAPPERS.has(name)) return scalar(m.value);
  if (name === 'google.protobuf.Struct' || name === 'google.protobuf.Value') return type.toObject(message as protobuf.Message);
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    const value = m[field.name];
    if (value === undefined || value === null) continue;
    if (!Object.prototype.hasOwnProperty.call(m, field.name)) continue;
    if (field.map) {
      const entries = Object.entries(value as Record<string, unknown>);
      if (entries.length === 0) continue;
      out[field.name] = Object.fromEntries(entries.map(([k, v]) => [k, fieldValue(field, v)]));
    } else if (field.repeated) {
      const list = value as unknown[];
      if (list.length === 0) continue;
      out[field.name] = list.map((v) => fieldValue(field, v));
    } else {
      out[field.name] = fieldValue(field, value);
    }
  }
  return out;
}

function fieldValue(field: protobuf.Field, value: unknown): unknown {
  const resolved = field.resolve().resolvedType;
  if (resolved && 'fieldsArray' in resolved) return messageToJson(resolved as protobuf.Type, value as protobuf.Message);
  if (resolved && 'values' in resolved) {
    const en = resolved as protobuf.Enum;
    return en.valuesById[value as number] ?? value;
  }
  return scalar(value);
}

function scalar(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (value !== null && typeof value === 'object' && 'low' in value && 'high' in value) return String(value);
  return value;
}
