/**
 * Issue 11: the sizes one xDS request may carry, checked on its wire bytes before it is decoded,
 * so a 4 MB node or a million names never becomes objects the stream holds. A request over a
 * limit is decoded to a marker (`refusalOf`) the server answers by closing the stream with a
 * status naming the limit.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import type { XdsConfig } from '../config/types.js';

export type RequestLimits = Pick<XdsConfig, 'maxNodeBytes' | 'maxNodeStringLength' | 'maxResourceNameLength' | 'maxSubscribedNames'>;

export interface Refusal {
  readonly code: GrpcStatus;
  readonly message: string;
}

const REFUSED = Symbol('refused');

/** The refusal a request decoded to, if it broke a limit. */
export function refusalOf(request: unknown): Refusal | undefined {
  return typeof request === 'object' && request !== null ? (request as { [REFUSED]?: Refusal })[REFUSED] : undefined;
}

export function refused(refusal: Refusal): object {
  return { [REFUSED]: refusal };
}

/** Wire layout of the requests: which field is the node, which are names, which short strings. */
export interface RequestLayout {
  readonly node: number;
  /** Repeated strings naming resources. */
  readonly names: readonly number[];
  /** map<string, string> whose keys are resource names (delta's initial_resource_versions). */
  readonly nameMaps: readonly number[];
  /** Strings that must stay short: version, nonce, type URL. */
  readonly strings: Readonly<Record<number, string>>;
}

export const SOTW_REQUEST_LAYOUT: RequestLayout = { node: 2, names: [3], nameMaps: [], strings: { 1: 'version_info', 4: 'type_url', 5: 'response_nonce' } };
export const DELTA_REQUEST_LAYOUT: RequestLayout = { node: 1, names: [3, 4], nameMaps: [5], strings: { 2: 'type_url', 6: 'response_nonce' } };

/**
 * Checks a request's encoded bytes against the limits; undefined when it is within them (or
 * malformed: the decoder then says so as usual).
 */
export function checkRequestBytes(bytes: Uint8Array, layout: RequestLayout, limits: RequestLimits): Refusal | undefined {
  try {
    const reader = protobuf.Reader.create(bytes);
    let names = 0;
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      const field = tag >>> 3;
      const wire = tag & 7;
      if (wire !== 2) {
        reader.skipType(wire);
        continue;
      }
      const length = reader.uint32();
      const start = reader.pos;
      reader.skip(length);
      if (field === layout.node && length > limits.maxNodeBytes) {
        return { code: GrpcStatus.RESOURCE_EXHAUSTED, message: `the node message is ${length} bytes, over the limit xds.maxNodeBytes (${limits.maxNodeBytes})` };
      }
      if (layout.names.includes(field)) {
        names++;
        if (length > limits.maxResourceNameLength) return nameTooLong(length, limits);
      } else if (layout.nameMaps.includes(field)) {
        names++;
        const key = mapKeyLength(bytes.subarray(start, start + length));
        if (key > limits.maxResourceNameLength) return nameTooLong(key, limits);
      } else if (layout.strings[field] !== undefined && length > limits.maxResourceNameLength) {
        return {
          code: GrpcStatus.INVALID_ARGUMENT,
          message: `${layout.strings[field]} is ${length} bytes, over the limit xds.maxResourceNameLength (${limits.maxResourceNameLength})`,
        };
      }
      if (names > limits.maxSubscribedNames) {
        return { code: GrpcStatus.RESOURCE_EXHAUSTED, message: `a request names more than ${limits.maxSubscribedNames} resources, over the limit xds.maxSubscribedNames` };
      }
    }
  } catch {
    return undefined;
  }
  return undefined;
}

function nameTooLong(length: number, limits: RequestLimits): Refusal {
  return { code: GrpcStatus.INVALID_ARGUMENT, message: `a resource name of ${length} bytes, over the limit xds.maxResourceNameLength (${limits.maxResourceNameLength})` };
}

/** The length of a map entry's key (field 1). */
function mapKeyLength(entry: Uint8Array): number {
  const reader = protobuf.Reader.create(entry);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === 2) return reader.uint32();
    reader.skipType(tag & 7);
  }
  return 0;
}

/** The first string in a decoded node longer than the limit, with its path, e.g. `node.user_agent_name`. */
export function checkNodeStrings(node: unknown, limits: RequestLimits): Refusal | undefined {
  const path = longString(node, 'node', limits.maxNodeStringLength, 0);
  if (path === undefined) return undefined;
  return { code: GrpcStatus.INVALID_ARGUMENT, message: `${path.path} is ${path.length} characters, over the limit xds.maxNodeStringLength (${limits.maxNodeStringLength})` };
}

function longString(value: unknown, path: string, max: number, depth: number): { path: string; length: number } | undefined {
  if (typeof value === 'string') return value.length > max ? { path, length: value.length } : undefined;
  if (typeof value !== 'object' || value === null || depth > 32 || value instanceof Uint8Array) return undefined;
  for (const [key, child] of Object.entries(value)) {
    if (key.length > max) return { path: `${path} key`, length: key.length };
    const found = longString(child, Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}`, max, depth + 1);
    if (found) return found;
  }
  return undefined;
}
