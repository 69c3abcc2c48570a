/**
 * Just enough of the protobuf wire format for the bench clients: encode the few request fields an
 * Envoy sends on an EDS subscription, and read a response's version, type and nonce without
 * decoding its resources. Thousands of streams share one client process and two cores with the
 * server under test, so the clients must cost as little CPU as possible: no protobufjs here.
 * Field numbers are those of envoy/service/discovery/v3/discovery.proto (checked against the real
 * protos by bench/lib/wire-check.ts when a client process starts).
 */

export interface NodeId {
  readonly id: string;
  readonly cluster: string;
}

export interface SotwRequestFields {
  readonly versionInfo?: string;
  readonly node?: NodeId;
  readonly resourceNames?: readonly string[];
  readonly typeUrl: string;
  readonly responseNonce?: string;
}

export interface DeltaRequestFields {
  readonly node?: NodeId;
  readonly typeUrl: string;
  readonly subscribe?: readonly string[];
  readonly responseNonce?: string;
}

/** The top-level scalar fields of a DiscoveryResponse or DeltaDiscoveryResponse. */
export interface ScannedResponse {
  /** version_info (SotW) or system_version_info (delta): field 1 of both. */
  readonly version: string;
  /** Field 4 of both. */
  readonly typeUrl: string;
  /** Field 5 of both. */
  readonly nonce: string;
  readonly bytes: number;
}

function pushVarint(out: number[], value: number): void {
  let v = value;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

/** A length-delimited field (strings and embedded messages). */
function pushBytes(out: number[], field: number, bytes: Uint8Array | readonly number[]): void {
  pushVarint(out, (field << 3) | 2);
  pushVarint(out, bytes.length);
  for (const byte of bytes) out.push(byte);
}

function pushString(out: number[], field: number, value: string | undefined): void {
  // proto3: an empty string is the default and is not written.
  if (value === undefined || value === '') return;
  pushBytes(out, field, Buffer.from(value, 'utf8'));
}

function nodeBytes(node: NodeId): number[] {
  // envoy.config.core.v3.Node: id = 1, cluster = 2.
  const out: number[] = [];
  pushString(out, 1, node.id);
  pushString(out, 2, node.cluster);
  return out;
}

/** envoy.service.discovery.v3.DiscoveryRequest. */
export function encodeSotwRequest(fields: SotwRequestFields): Buffer {
  const out: number[] = [];
  pushString(out, 1, fields.versionInfo);
  if (fields.node) pushBytes(out, 2, nodeBytes(fields.node));
  for (const name of fields.resourceNames ?? []) pushBytes(out, 3, Buffer.from(name, 'utf8'));
  pushString(out, 4, fields.typeUrl);
  pushString(out, 5, fields.responseNonce);
  return Buffer.from(out);
}

/** envoy.service.discovery.v3.DeltaDiscoveryRequest. */
export function encodeDeltaRequest(fields: DeltaRequestFields): Buffer {
  const out: number[] = [];
  if (fields.node) pushBytes(out, 1, nodeBytes(fields.node));
  pushString(out, 2, fields.typeUrl);
  for (const name of fields.subscribe ?? []) pushBytes(out, 3, Buffer.from(name, 'utf8'));
  pushString(out, 6, fields.responseNonce);
  return Buffer.from(out);
}

function readVarint(buf: Buffer, at: { pos: number }): number {
  let result = 0;
  let scale = 1;
  for (;;) {
    if (at.pos >= buf.length) throw new Error('truncated varint');
    const byte = buf[at.pos++]!;
    result += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return result;
    scale *= 128;
  }
}

/** Reads fields 1, 4 and 5 and skips everything else (the resources above all) unread. */
export function scanResponse(buf: Buffer): ScannedResponse {
  let version = '';
  let typeUrl = '';
  let nonce = '';
  const at = { pos: 0 };
  while (at.pos < buf.length) {
    const tag = readVarint(buf, at);
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    switch (wireType) {
      case 0:
        readVarint(buf, at);
        break;
      case 1:
        at.pos += 8;
        break;
      case 5:
        at.pos += 4;
        break;
      case 2: {
        const length = readVarint(buf, at);
        const start = at.pos;
        at.pos += length;
        if (field === 1) version = buf.toString('utf8', start, at.pos);
        else if (field === 4) typeUrl = buf.toString('utf8', start, at.pos);
        else if (field === 5) nonce = buf.toString('utf8', start, at.pos);
        break;
      }
      default:
        throw new Error(`unsupported wire type ${wireType}`);
    }
  }
  if (at.pos !== buf.length) throw new Error('truncated field');
  return { version, typeUrl, nonce, bytes: buf.length };
}
