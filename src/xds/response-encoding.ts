/**
 * Discovery responses encoded once and shared: every stream that is sent the same content gets
 * the same bytes, followed by its own nonce (protobuf lets a field come last, and the nonce is
 * the only per-stream field). A push to 5,000 streams encodes one response, not 5,000.
 */
import protobuf from 'protobufjs';
import type { ResourceTypeUrl } from '../envoy-api/type-urls.js';
import type { EncodedResource } from '../snapshot/snapshot.js';

/** Field tags (number << 3 | wire type 2, length-delimited) of the discovery messages. */
const SOTW = { version: 0x0a, resource: 0x12, typeUrl: 0x22, nonce: 0x2a, controlPlane: 0x32 };
const DELTA = { systemVersion: 0x0a, resource: 0x12, typeUrl: 0x22, nonce: 0x2a, removed: 0x32, controlPlane: 0x3a };
const RESOURCE = { version: 0x0a, any: 0x12, name: 0x1a };
const ANY = { typeUrl: 0x0a, value: 0x12 };
const CONTROL_PLANE_IDENTIFIER = 0x0a;

const MAX_CACHED = 512;
const cache = new Map<string, Uint8Array>();

/** Memoizes by a key that determines the content; a small LRU, as only recent versions are asked for. */
function shared(key: string, build: () => Uint8Array): Uint8Array {
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  const bytes = build();
  cache.set(key, bytes);
  if (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value as string);
  return bytes;
}

function any(writer: protobuf.Writer, typeUrl: string, value: Uint8Array): void {
  writer.fork().uint32(ANY.typeUrl).string(typeUrl).uint32(ANY.value).bytes(value).ldelim();
}

/** A DiscoveryResponse without its nonce; `version` must determine `resources` (it is a content hash). */
export function sotwBody(typeUrl: ResourceTypeUrl, version: string, resources: readonly EncodedResource[], controlPlane: string): Uint8Array {
  return shared(`s|${typeUrl}|${version}|${controlPlane}`, () => {
    const w = protobuf.Writer.create().uint32(SOTW.version).string(version);
    for (const resource of resources) {
      w.uint32(SOTW.resource);
      any(w, typeUrl, resource.value);
    }
    w.uint32(SOTW.typeUrl).string(typeUrl);
    w.uint32(SOTW.controlPlane).fork().uint32(CONTROL_PLANE_IDENTIFIER).string(controlPlane).ldelim();
    return w.finish();
  });
}

/** A DeltaDiscoveryResponse without its nonce, keyed by exactly what it carries. */
export function deltaBody(
  typeUrl: ResourceTypeUrl,
  systemVersion: string,
  updated: readonly EncodedResource[],
  removed: readonly string[],
  controlPlane: string,
): Uint8Array {
  let key = `d|${typeUrl}|${systemVersion}|${controlPlane}|`;
  for (const r of updated) key += `${r.name}@${r.version},`;
  key += '|';
  for (const name of removed) key += `${name},`;
  return shared(key, () => {
    const w = protobuf.Writer.create().uint32(DELTA.systemVersion).string(systemVersion);
    for (const r of updated) {
      w.uint32(DELTA.resource).fork();
      w.uint32(RESOURCE.version).string(r.version);
      w.uint32(RESOURCE.any);
      any(w, typeUrl, r.value);
      w.uint32(RESOURCE.name).string(r.name);
      w.ldelim();
    }
    w.uint32(DELTA.typeUrl).string(typeUrl);
    for (const name of removed) w.uint32(DELTA.removed).string(name);
    w.uint32(DELTA.controlPlane).fork().uint32(CONTROL_PLANE_IDENTIFIER).string(controlPlane).ldelim();
    return w.finish();
  });
}

/** The shared body plus this stream's nonce (field 5 in both messages). */
export function withNonce(body: Uint8Array, nonce: string): Buffer {
  const tail = protobuf.Writer.create().uint32(SOTW.nonce).string(nonce).finish();
  const out = Buffer.allocUnsafe(body.length + tail.length);
  out.set(body, 0);
  out.set(tail, body.length);
  return out;
}
