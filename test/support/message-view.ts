/**
 * A decoded protobufjs message as plain data for assertions: enum names, 64-bit numbers as
 * numbers, and Any payloads decoded in place (resolved in `root`, which defaults to the Envoy API).
 */
import type protobuf from 'protobufjs';
import { envoyRoot } from '../../src/envoy-api/protos.js';

type Json = Record<string, any>;

export function messageView(type: protobuf.Type, message: protobuf.Message, root: protobuf.Root = envoyRoot()): Json {
  const expand = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(expand);
    if (value === null || typeof value !== 'object') return value;
    const obj = value as Json;
    if (typeof obj.type_url === 'string' && Array.isArray(obj.value)) {
      const inner = root.lookupType(obj.type_url.slice(obj.type_url.lastIndexOf('/') + 1));
      return { '@type': obj.type_url, ...messageView(inner, inner.decode(Uint8Array.from(obj.value)), root) };
    }
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, expand(v)]));
  };
  return expand(type.toObject(message, { enums: String, longs: Number, bytes: Array })) as Json;
}
