/**
 * Checks protobuf messages against the protoc-gen-validate `(validate.rules)` annotations in the
 * Envoy protos, the same rules Envoy enforces with `MessageUtil::validate` before it accepts a
 * resource. There is no Envoy binary here, so this is how shardvoy proves its resources would load.
 *
 * Rules are read by reflection from the protobufjs Root (field `parsedOptions`), so nothing is
 * generated. Semantics follow PGV's generated validators:
 *  - scalar rules apply to the value even when it is the proto3 default, except for members of a
 *    oneof (or proto3 `optional`) that is not set, and for `ignore_empty` rule sets on empty values;
 *  - `required` rules on message fields fire only when the field is unset; every other rule on a
 *    message field applies only when it is set; wrappers take the rules of the value they wrap;
 *  - set sub-messages, repeated elements and map values are validated recursively, including the
 *    payload of `google.protobuf.Any` (as Envoy's recursive check does for `typed_config`).
 *
 * Unlike PGV, which stops at the first failure, every violation is returned.
 *
 * Every rule in validate.proto is evaluated, timestamp lt_now/gt_now/within against the wall clock
 * at the start of the call. Two limits come from protobufjs, not from here: its .proto parser drops
 * `\x..` and octal escapes from option strings (a `bytes` rule written with escaped bytes sees
 * mangled bytes; the Envoy protos have none), and it cannot parse lists of messages in options
 * (`in: [{seconds: 1}]`), so such a proto fails to load rather than mis-validates.
 */
import { isIPv4, isIPv6 } from 'node:net';
import protobuf from 'protobufjs';
import { envoyRoot } from './protos.js';

export interface RuleViolation {
  /** Where the failing value sits, e.g. `filter_chains[0].filters[0].typed_config(tcp_proxy.v3.TcpProxy).stat_prefix`. */
  path: string;
  /**
   * The rule that failed, `<kind>.<rule>` as in validate.proto (`string.min_len`, `duration.gt`,
   * `oneof.required`). A value on the wrong side of a reversed (exclusive) range names both
   * bounds, e.g. `int32.gt_lt`. Map key rules are prefixed `map.keys.`. Two rules are shardvoy's:
   * `any.type_url` (Any payload type not in the root) and `any.decode` / `decode` (bad bytes).
   */
  rule: string;
  message: string;
}

type Rules = Record<string, unknown>;

const WRAPPERS = new Set(
  ['DoubleValue', 'FloatValue', 'Int64Value', 'UInt64Value', 'Int32Value', 'UInt32Value', 'BoolValue', 'StringValue', 'BytesValue'].map(
    (n) => `.google.protobuf.${n}`,
  ),
);
const NUMERIC_KINDS = new Set([
  'float', 'double', 'int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'fixed32', 'fixed64', 'sfixed32', 'sfixed64',
]);
const LONG_KINDS = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const UNSIGNED_LONG_KINDS = new Set(['uint64', 'fixed64']);

// ---------------------------------------------------------------------------------------------
// Reading the annotations

function isRules(value: unknown): value is Rules {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/** Merges option objects: a field may carry several `(validate.rules).x = ...` entries. */
function deepMerge(target: Rules, source: Rules): Rules {
  for (const [key, value] of Object.entries(source)) {
    const existing = target[key];
    if (isRules(existing) && isRules(value)) deepMerge(existing, value);
    else target[key] = isRules(value) ? deepMerge({}, value) : value;
  }
  return target;
}

function parsedOptionsOf(obj: protobuf.ReflectionObject): Rules[] {
  const parsed = (obj as unknown as { parsedOptions?: unknown }).parsedOptions;
  return Array.isArray(parsed) ? parsed.filter(isRules) : [];
}

/** Reads one option, from `parsedOptions` when the Root was parsed from .proto text, else from flat `options`. */
function optionOf(obj: protobuf.ReflectionObject, name: string): unknown {
  let found: unknown;
  for (const entry of parsedOptionsOf(obj)) if (name in entry) found = entry[name];
  return found ?? obj.options?.[name];
}

const rulesCache = new WeakMap<protobuf.Field, Rules | null>();

function fieldRules(field: protobuf.Field): Rules | undefined {
  let cached = rulesCache.get(field);
  if (cached === undefined) {
    let merged: Rules | null = null;
    for (const entry of parsedOptionsOf(field)) {
      const rules = entry['(validate.rules)'];
      if (isRules(rules)) merged = deepMerge(merged ?? {}, rules);
    }
    if (!merged && field.options) {
      // Roots built from JSON descriptors keep only flattened options: "(validate.rules).string.min_len".
      for (const [key, value] of Object.entries(field.options)) {
        if (!key.startsWith('(validate.rules).')) continue;
        const parts = key.slice('(validate.rules).'.length).split('.');
        let node: Rules = (merged ??= {});
        for (const part of parts.slice(0, -1)) node = isRules(node[part]) ? (node[part] as Rules) : (node[part] = {});
        node[parts[parts.length - 1]!] = value;
      }
    }
    cached = merged;
    rulesCache.set(field, cached);
  }
  return cached ?? undefined;
}

function isDisabled(type: protobuf.Type): boolean {
  // `ignored` (newer PGV) generates no validator at all; for a checker that is the same as `disabled`.
  return optionOf(type, '(validate.disabled)') === true || optionOf(type, '(validate.ignored)') === true;
}

function isOneofRequired(oneof: protobuf.OneOf): boolean {
  return optionOf(oneof, '(validate.required)') === true;
}

function sub(rules: Rules | undefined, key: string): Rules | undefined {
  const value = rules?.[key];
  return isRules(value) ? value : undefined;
}

function has(rules: Rules, key: string): boolean {
  return rules[key] !== undefined && rules[key] !== null;
}

/** A single repeated entry in text-format options parses as a scalar, several as an array. */
function list(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

// ---------------------------------------------------------------------------------------------
// Value conversion

interface LongLike {
  low: number;
  high: number;
  unsigned?: boolean;
}

function isLongLike(value: unknown): value is LongLike {
  return typeof value === 'object' && value !== null && typeof (value as LongLike).low === 'number' && typeof (value as LongLike).high === 'number';
}

/** 64-bit values arrive as protobufjs Long, number, decimal string or (map keys) a Long hash string. */
function toBigInt(value: unknown, unsigned: boolean): bigint | undefined {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? BigInt(Math.trunc(value)) : undefined;
  if (typeof value === 'string') {
    try {
      return BigInt(value.trim() || '0');
    } catch {
      return undefined;
    }
  }
  if (isLongLike(value)) {
    const bits = (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0);
    return unsigned || value.unsigned ? BigInt.asUintN(64, bits) : BigInt.asIntN(64, bits);
  }
  if (typeof value === 'boolean') return value ? 1n : 0n;
  return undefined;
}

function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (isLongLike(value)) return Number(toBigInt(value, false));
  return Number(value);
}

function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return Buffer.from(value, 'base64'); // protobufjs' JSON form of bytes
  if (Array.isArray(value)) return Uint8Array.from(value as number[]);
  return new Uint8Array(0);
}

/** Bytes literals in rules come from the .proto text as JS strings; the file was UTF-8. */
function ruleBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  return Buffer.from(String(value ?? ''), 'utf8');
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** Duration/Timestamp (message or rule literal) as nanoseconds. */
function toNanos(value: unknown): bigint {
  if (!isRules(value)) return 0n;
  const seconds = toBigInt(value.seconds ?? 0, false) ?? 0n;
  const nanos = BigInt(Math.trunc(toNumber(value.nanos ?? 0)) || 0);
  return seconds * 1_000_000_000n + nanos;
}

function formatDuration(nanos: bigint): string {
  const sign = nanos < 0n ? '-' : '';
  const abs = nanos < 0n ? -nanos : nanos;
  const whole = abs / 1_000_000_000n;
  const frac = abs % 1_000_000_000n;
  const fracText = frac === 0n ? '' : `.${frac.toString().padStart(9, '0').replace(/0+$/, '')}`;
  return `${sign}${whole}${fracText}s`;
}

function formatTimestamp(nanos: bigint): string {
  const ms = Number(nanos / 1_000_000n);
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `${formatDuration(nanos)} after the epoch` : date.toISOString();
}

function formatBytes(bytes: Uint8Array): string {
  return `0x${Buffer.from(bytes).toString('hex')}`;
}

// ---------------------------------------------------------------------------------------------
// Well-known string formats (validate.proto's StringRules.well_known)

/** RFC 1034 host name, as PGV checks it: labels of 1-63 letters, digits and inner hyphens. */
export function isHostname(value: string): boolean {
  if (value.length > 253) return false;
  const host = value.endsWith('.') ? value.slice(0, -1) : value;
  return host.split('.').every((label) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label));
}

// Zone ids (fe80::1%eth0) are not addresses in PGV's sense, though node:net accepts them.
const isIp4 = (value: string): boolean => isIPv4(value);
const isIp6 = (value: string): boolean => !value.includes('%') && isIPv6(value);
const isIp = (value: string): boolean => isIp4(value) || isIp6(value);

const ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
const DOT_ATOM = new RegExp(`^${ATOM}(?:\\.${ATOM})*$`);
const QUOTED = /^"(?:[^"\\\r\n]|\\.)*"$/;

/** RFC 5322 addr-spec, optionally inside `Display Name <...>`, with a host-name domain. */
export function isEmail(value: string): boolean {
  let address = value.trim();
  const angle = /^[^<]*<([^<>]*)>$/.exec(address);
  if (angle) address = angle[1]!;
  if (address.length > 254) return false;
  const at = address.lastIndexOf('@');
  if (at <= 0) return false;
  const local = address.slice(0, at);
  if (local.length > 64 || !(DOT_ATOM.test(local) || QUOTED.test(local))) return false;
  return isHostname(address.slice(at + 1));
}

const UNRESERVED = "A-Za-z0-9\\-._~";
const SUB_DELIMS = "!$&'()*+,;=";
const PCT = '%[0-9A-Fa-f]{2}';
const PCHAR = `(?:[${UNRESERVED}${SUB_DELIMS}:@]|${PCT})`;
const PATH_RE = new RegExp(`^(?:${PCHAR}|/)*$`);
const QUERY_RE = new RegExp(`^(?:${PCHAR}|[/?])*$`);
const USERINFO_RE = new RegExp(`^(?:[${UNRESERVED}${SUB_DELIMS}:]|${PCT})*$`);
const REG_NAME_RE = new RegExp(`^(?:[${UNRESERVED}${SUB_DELIMS}]|${PCT})*$`);
const IP_FUTURE_RE = new RegExp(`^v[0-9A-Fa-f]+\\.[${UNRESERVED}${SUB_DELIMS}:]+$`);

function isAuthority(authority: string): boolean {
  const at = authority.lastIndexOf('@');
  if (at >= 0 && !USERINFO_RE.test(authority.slice(0, at))) return false;
  const hostPort = authority.slice(at + 1);
  let host: string;
  let port = '';
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    if (close < 0) return false;
    const literal = hostPort.slice(1, close);
    if (!isIp6(literal) && !IP_FUTURE_RE.test(literal)) return false;
    const rest = hostPort.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) return false;
    port = rest.slice(1);
    host = '';
  } else {
    const colon = hostPort.lastIndexOf(':');
    host = colon >= 0 ? hostPort.slice(0, colon) : hostPort;
    port = colon >= 0 ? hostPort.slice(colon + 1) : '';
  }
  return REG_NAME_RE.test(host) && /^[0-9]*$/.test(port);
}

/** RFC 3986 URI (`requireScheme`) or URI reference, split with the RFC's appendix-B grammar. */
export function isUri(value: string, requireScheme: boolean): boolean {
  const m = /^(?:([^:/?#]+):)?(?:\/\/([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#([\s\S]*))?$/.exec(value);
  if (!m) return false;
  const [, scheme, authority, path = '', query, fragment] = m;
  if (scheme === undefined ? requireScheme : !/^[A-Za-z][A-Za-z0-9+.-]*$/.test(scheme)) return false;
  if (authority !== undefined && !isAuthority(authority)) return false;
  // A relative reference's first segment may not hold ':' (it would read as a scheme).
  if (scheme === undefined && authority === undefined && /^[^/]*:/.test(path)) return false;
  return PATH_RE.test(path) && (query === undefined || QUERY_RE.test(query)) && (fragment === undefined || QUERY_RE.test(fragment));
}

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
// RFC 7230 token (with the optional ':' of HTTP/2 pseudo-headers), and field-value without CTLs.
const HEADER_NAME_RE = /^:?[0-9A-Za-z!#$%&'*+\-.^_`|~]+$/;
const HEADER_VALUE_RE = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
// `strict: false`: only NUL, LF and CR, the characters that enable header injection, are refused.
const HEADER_LOOSE_RE = /^[^\u0000\u000A\u000D]*$/;

// ---------------------------------------------------------------------------------------------
// RE2 patterns

const POSIX_CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z', alpha: 'A-Za-z', ascii: '\\x00-\\x7F', blank: '\\t ', cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9', graph: '!-~', lower: 'a-z', print: ' -~', punct: '!-\\/:-@\\[-`{-~', space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z', word: '0-9A-Za-z_', xdigit: '0-9A-Fa-f',
};

const patternCache = new Map<string, RegExp>();

/**
 * Compiles an RE2 pattern as a JS RegExp. The two dialects agree on everything the Envoy protos
 * use; the RE2-only spellings that have a JS equivalent are rewritten (leading `(?flags)`, `\A`,
 * `\z`, `\pL`, `(?P<name>`, `[[:alpha:]]`, `\Q...\E`). A pattern that still does not compile is an
 * annotation this checker cannot evaluate, so it throws rather than guess.
 */
export function compileRe2(pattern: string): RegExp {
  const cached = patternCache.get(pattern);
  if (cached) return cached;
  let flags = '';
  let src = pattern;
  const lead = /^\(\?([imsU]+)\)/.exec(src);
  if (lead) {
    if (lead[1]!.includes('U')) throw new Error(`RE2 pattern ${JSON.stringify(pattern)}: ungreedy mode has no JS equivalent`);
    flags = [...new Set(lead[1]!)].join('');
    src = src.slice(lead[0].length);
  }
  let out = '';
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === '\\' && i + 1 < src.length) {
      const n = src[i + 1]!;
      i++;
      if (n === 'A') out += '(?<![\\s\\S])';
      else if (n === 'z') out += '(?![\\s\\S])';
      else if ((n === 'p' || n === 'P') && src[i + 1] !== '{' && i + 1 < src.length) out += `\\${n}{${src[++i]}}`;
      else if (n === 'Q') {
        const end = src.indexOf('\\E', i + 1);
        const literal = end < 0 ? src.slice(i + 1) : src.slice(i + 1, end);
        out += literal.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
        i = end < 0 ? src.length : end + 1;
      } else out += `\\${n}`;
    } else if (c === '(' && src.startsWith('(?P<', i)) {
      out += '(?<';
      i += 3;
    } else if (c === '[' && src[i + 1] === ':') {
      const m = /^\[:(\^?)([a-z]+):\]/.exec(src.slice(i));
      const cls = m ? POSIX_CLASSES[m[2]!] : undefined;
      if (m && cls !== undefined && !m[1]) {
        out += cls;
        i += m[0].length - 1;
      } else out += c;
    } else out += c;
  }
  let compiled: RegExp | undefined;
  for (const extra of ['u', '']) {
    try {
      compiled = new RegExp(out, flags + extra);
      break;
    } catch {
      // Unicode mode refuses some identity escapes RE2 allows; retry without it.
    }
  }
  if (!compiled) throw new Error(`RE2 pattern ${JSON.stringify(pattern)} has no JS RegExp equivalent`);
  patternCache.set(pattern, compiled);
  return compiled;
}

// ---------------------------------------------------------------------------------------------
// Ordered comparisons shared by numbers, durations and timestamps

interface Order<T> {
  cmp(a: T, b: T): number; // NaN when unordered, so float NaN passes range checks as it does in PGV
  fmt(v: T): string;
  conv(rule: unknown): T;
}

const numberOrder = (round: boolean): Order<number> => ({
  cmp: (a, b) => (a < b ? -1 : a > b ? 1 : a === b ? 0 : Number.NaN),
  fmt: (v) => String(v),
  // float rules are float32 constants in the generated code, so compare at float32 precision.
  conv: (r) => (round ? Math.fround(toNumber(r)) : toNumber(r)),
});

const bigintOrder = (fmt: (v: bigint) => string, conv: (r: unknown) => bigint): Order<bigint> => ({
  cmp: (a, b) => (a < b ? -1 : a > b ? 1 : 0),
  fmt,
  conv,
});

const longOrder = bigintOrder(String, (r) => toBigInt(r, false) ?? 0n);
const durationOrder = bigintOrder(formatDuration, toNanos);
const timestampOrder = bigintOrder(formatTimestamp, toNanos);

/**
 * lt/lte/gt/gte as PGV generates them: with both bounds, lower < upper means "inside the range",
 * otherwise the range is reversed and the value must lie outside it.
 */
function rangeFailure<T>(v: T, r: Rules, o: Order<T>): { rule: string; message: string } | undefined {
  const bound = (k: string): T | undefined => (has(r, k) ? o.conv(r[k]) : undefined);
  const lt = bound('lt');
  const lte = bound('lte');
  const gt = bound('gt');
  const gte = bound('gte');
  const below = (x: T, strict: boolean): boolean => (strict ? o.cmp(v, x) < 0 : o.cmp(v, x) <= 0);
  const above = (x: T, strict: boolean): boolean => (strict ? o.cmp(v, x) > 0 : o.cmp(v, x) >= 0);
  const hi = lt !== undefined ? { key: 'lt', val: lt, excl: true } : lte !== undefined ? { key: 'lte', val: lte, excl: false } : undefined;
  const lo = gt !== undefined ? { key: 'gt', val: gt, excl: true } : gte !== undefined ? { key: 'gte', val: gte, excl: false } : undefined;
  if (hi && lo) {
    const open = lo.excl ? '(' : '[';
    const close = hi.excl ? ')' : ']';
    if (o.cmp(hi.val, lo.val) > 0) {
      const message = `must be inside range ${open}${o.fmt(lo.val)}, ${o.fmt(hi.val)}${close}`;
      // Failing gt means v <= gt; failing gte means v < gte.
      if (below(lo.val, !lo.excl)) return { rule: lo.key, message };
      if (above(hi.val, !hi.excl)) return { rule: hi.key, message };
      return undefined;
    }
    // Reversed: the excluded band runs from the upper bound to the lower one, with the inverse ends.
    if (above(hi.val, !hi.excl) && below(lo.val, !lo.excl)) {
      const bandOpen = hi.excl ? '[' : '(';
      const bandClose = lo.excl ? ']' : ')';
      return { rule: `${lo.key}_${hi.key}`, message: `must be outside range ${bandOpen}${o.fmt(hi.val)}, ${o.fmt(lo.val)}${bandClose}` };
    }
    return undefined;
  }
  if (hi && above(hi.val, !hi.excl)) {
    return { rule: hi.key, message: `must be less than ${hi.excl ? '' : 'or equal to '}${o.fmt(hi.val)}` };
  }
  if (lo && below(lo.val, !lo.excl)) {
    return { rule: lo.key, message: `must be greater than ${lo.excl ? '' : 'or equal to '}${o.fmt(lo.val)}` };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The walker

function join(path: string, name: string): string {
  return path ? `${path}.${name}` : name;
}

/** Short label for an Any payload in paths: from the package segment before the version on. */
function anyLabel(type: protobuf.Type): string {
  const parts = type.fullName.replace(/^\./, '').split('.');
  const version = parts.findIndex((p) => /^v\d+(?:(?:alpha|beta)\d*)?$/.test(p));
  return version > 0 ? parts.slice(version - 1).join('.') : parts.join('.');
}

function hasOwn(obj: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

/** Which member of a oneof is set; protobufjs keeps only set members as own properties. */
function oneofCase(obj: Record<string, unknown>, oneof: protobuf.OneOf): string | undefined {
  let found: string | undefined;
  for (const name of oneof.oneof) {
    if (hasOwn(obj, name) && obj[name] !== undefined && obj[name] !== null) found = name;
  }
  return found;
}

class Validator {
  readonly out: RuleViolation[] = [];
  private readonly types = new Map<string, protobuf.Type | null>();
  private readonly nowNanos = BigInt(Date.now()) * 1_000_000n;

  constructor(private readonly root: protobuf.Root) {}

  private fail(path: string, rule: string, message: string): void {
    this.out.push({ path, rule, message });
  }

  /** A message-typed value: a field, a repeated element, a map value or the top-level message. */
  messageValue(type: protobuf.Type, value: unknown, rules: Rules | undefined, path: string): void {
    const name = type.fullName;
    if (value === undefined || value === null) {
      for (const kind of ['message', 'any', 'duration', 'timestamp']) {
        if (sub(rules, kind)?.required === true) this.fail(path, `${kind}.required`, 'is required');
      }
      return;
    }
    let msg: Record<string, unknown>;
    try {
      msg = (value instanceof type.ctor ? value : type.fromObject(value as Record<string, unknown>)) as unknown as Record<string, unknown>;
    } catch (err) {
      this.fail(path, 'type', `is not a ${name.slice(1)}: ${(err as Error).message}`);
      return;
    }
    if (name === '.google.protobuf.Any') {
      this.anyRules(msg, sub(rules, 'any'), path);
      if (sub(rules, 'message')?.skip !== true) this.anyPayload(msg, path);
      return;
    }
    if (name === '.google.protobuf.Duration') {
      const r = sub(rules, 'duration');
      if (r) this.ordered(toNanos(msg), r, durationOrder, 'duration', path);
      return;
    }
    if (name === '.google.protobuf.Timestamp') {
      const r = sub(rules, 'timestamp');
      if (r) this.timestampRules(toNanos(msg), r, path);
      return;
    }
    if (WRAPPERS.has(name)) {
      const inner = type.fields.value;
      if (inner) {
        inner.resolve();
        const v = msg.value === undefined || msg.value === null ? inner.defaultValue : msg.value;
        this.scalar(inner.type, null, v, rules, path);
      }
      return;
    }
    if (sub(rules, 'message')?.skip === true) return;
    this.message(type, msg, path);
  }

  private message(type: protobuf.Type, msg: Record<string, unknown>, path: string): void {
    if (isDisabled(type)) return;
    const inactive = new Set<string>();
    for (const oneof of type.oneofsArray) {
      const set = oneofCase(msg, oneof);
      for (const member of oneof.oneof) if (member !== set) inactive.add(member);
      if (set === undefined && isOneofRequired(oneof)) {
        this.fail(join(path, oneof.name), 'oneof.required', `exactly one of [${oneof.oneof.join(', ')}] is required`);
      }
    }
    for (const field of type.fieldsArray) {
      if (inactive.has(field.name)) continue;
      field.resolve();
      this.field(field, msg[field.name], join(path, field.name));
    }
  }

  private field(field: protobuf.Field, raw: unknown, path: string): void {
    const rules = fieldRules(field);
    if (field instanceof protobuf.MapField) return this.mapField(field, raw, rules, path);
    if (field.repeated) return this.repeatedField(field, raw, rules, path);
    this.value(field, raw === undefined || raw === null ? field.defaultValue : raw, rules, path);
  }

  private value(field: protobuf.FieldBase, v: unknown, rules: Rules | undefined, path: string): void {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) this.messageValue(resolved, v, rules, path);
    else this.scalar(field.type, resolved instanceof protobuf.Enum ? resolved : null, v, rules, path);
  }

  private repeatedField(field: protobuf.Field, raw: unknown, rules: Rules | undefined, path: string): void {
    const items = Array.isArray(raw) ? raw : [];
    const r = sub(rules, 'repeated');
    if (r && !(r.ignore_empty === true && items.length === 0)) {
      if (has(r, 'min_items') && items.length < toNumber(r.min_items)) {
        this.fail(path, 'repeated.min_items', `must contain at least ${toNumber(r.min_items)} item(s)`);
      }
      if (has(r, 'max_items') && items.length > toNumber(r.max_items)) {
        this.fail(path, 'repeated.max_items', `must contain no more than ${toNumber(r.max_items)} item(s)`);
      }
      // PGV defines unique only for scalars and enums.
      if (r.unique === true && !(field.resolvedType instanceof protobuf.Type)) {
        const seen = new Map<string, number>();
        items.forEach((item, i) => {
          const key = uniqueKey(field.type, item);
          const first = seen.get(key);
          if (first === undefined) seen.set(key, i);
          else this.fail(`${path}[${i}]`, 'repeated.unique', `repeats the value of item ${first}`);
        });
      }
    }
    const itemRules = sub(r, 'items');
    items.forEach((item, i) => this.value(field, item, itemRules, `${path}[${i}]`));
  }

  private mapField(field: protobuf.MapField, raw: unknown, rules: Rules | undefined, path: string): void {
    const map = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
    const keys = Object.keys(map);
    const r = sub(rules, 'map');
    const valueIsMessage = field.resolvedType instanceof protobuf.Type;
    if (r && !(r.ignore_empty === true && keys.length === 0)) {
      if (has(r, 'min_pairs') && keys.length < toNumber(r.min_pairs)) {
        this.fail(path, 'map.min_pairs', `must contain at least ${toNumber(r.min_pairs)} pair(s)`);
      }
      if (has(r, 'max_pairs') && keys.length > toNumber(r.max_pairs)) {
        this.fail(path, 'map.max_pairs', `must contain no more than ${toNumber(r.max_pairs)} pair(s)`);
      }
    }
    const keyRules = sub(r, 'keys');
    const valueRules = sub(r, 'values');
    for (const rawKey of keys) {
      const key = mapKey(field.keyType, rawKey);
      const keyPath = `${path}[${typeof key === 'string' ? JSON.stringify(key) : String(key)}]`;
      if (keyRules) {
        const start = this.out.length;
        this.scalar(field.keyType, null, key, keyRules, keyPath);
        for (const violation of this.out.slice(start)) violation.rule = `map.keys.${violation.rule}`;
      }
      const value = map[rawKey];
      if (valueIsMessage && (value === undefined || value === null)) {
        if (r?.no_sparse === true) this.fail(keyPath, 'map.no_sparse', 'value cannot be unset');
        continue;
      }
      this.value(field, value, valueRules, keyPath);
    }
  }

  /** Scalar and enum values (also the payload of a wrapper): dispatch on the rule kinds present. */
  private scalar(protoType: string, enumType: protobuf.Enum | null, v: unknown, rules: Rules | undefined, path: string): void {
    if (!rules) return;
    for (const [kind, r] of Object.entries(rules)) {
      if (!isRules(r)) continue;
      if (NUMERIC_KINDS.has(kind)) this.numberRules(kind, protoType, v, r, path);
      else if (kind === 'string') this.stringRules(typeof v === 'string' ? v : String(v ?? ''), r, path);
      else if (kind === 'bytes') this.bytesRules(toBytes(v), r, path);
      else if (kind === 'bool') this.boolRules(v === true || v === 'true', r, path);
      else if (kind === 'enum') this.enumRules(enumType, v, r, path);
    }
  }

  private ordered<T>(v: T, r: Rules, o: Order<T>, kind: string, path: string): void {
    if (has(r, 'const') && o.cmp(v, o.conv(r.const)) !== 0) this.fail(path, `${kind}.const`, `must equal ${o.fmt(o.conv(r.const))}`);
    const range = rangeFailure(v, r, o);
    if (range) this.fail(path, `${kind}.${range.rule}`, range.message);
    const inList = list(r.in).map(o.conv);
    if (inList.length && !inList.some((x) => o.cmp(v, x) === 0)) {
      this.fail(path, `${kind}.in`, `must be in list [${inList.map(o.fmt).join(', ')}]`);
    }
    const notIn = list(r.not_in).map(o.conv);
    if (notIn.some((x) => o.cmp(v, x) === 0)) this.fail(path, `${kind}.not_in`, `must not be in list [${notIn.map(o.fmt).join(', ')}]`);
  }

  private numberRules(kind: string, protoType: string, v: unknown, r: Rules, path: string): void {
    if (LONG_KINDS.has(kind) || LONG_KINDS.has(protoType)) {
      const unsigned = UNSIGNED_LONG_KINDS.has(protoType) || UNSIGNED_LONG_KINDS.has(kind);
      const value = toBigInt(v, unsigned);
      if (value === undefined) return this.fail(path, `${kind}.type`, `is not an integer: ${String(v)}`);
      if (r.ignore_empty === true && value === 0n) return;
      this.ordered(value, r, longOrder, kind, path);
      return;
    }
    const round = kind === 'float';
    const value = round ? Math.fround(toNumber(v)) : toNumber(v);
    if (r.ignore_empty === true && value === 0) return;
    this.ordered(value, r, numberOrder(round), kind, path);
  }

  private boolRules(v: boolean, r: Rules, path: string): void {
    if (has(r, 'const') && v !== (r.const === true)) this.fail(path, 'bool.const', `must equal ${String(r.const === true)}`);
  }

  private enumRules(enumType: protobuf.Enum | null, raw: unknown, r: Rules, path: string): void {
    const v = typeof raw === 'string' && enumType ? (enumType.values[raw] ?? Number.NaN) : toNumber(raw);
    if (has(r, 'const') && v !== toNumber(r.const)) this.fail(path, 'enum.const', `must equal ${toNumber(r.const)}`);
    if (r.defined_only === true && enumType && enumType.valuesById[v] === undefined) {
      this.fail(path, 'enum.defined_only', `${v} is not a defined value of ${enumType.fullName.slice(1)}`);
    }
    const inList = list(r.in).map(toNumber);
    if (inList.length && !inList.includes(v)) this.fail(path, 'enum.in', `must be in list [${inList.join(', ')}]`);
    const notIn = list(r.not_in).map(toNumber);
    if (notIn.includes(v)) this.fail(path, 'enum.not_in', `must not be in list [${notIn.join(', ')}]`);
  }

  private stringRules(v: string, r: Rules, path: string): void {
    if (r.ignore_empty === true && v === '') return;
    const fail = (rule: string, message: string): void => this.fail(path, `string.${rule}`, message);
    const chars = [...v].length; // PGV counts Unicode code points, not UTF-16 units
    const bytes = Buffer.byteLength(v, 'utf8');
    const n = (k: string): number => toNumber(r[k]);
    if (has(r, 'const') && v !== String(r.const)) fail('const', `must equal ${JSON.stringify(String(r.const))}`);
    if (has(r, 'len') && chars !== n('len')) fail('len', `must be exactly ${n('len')} character(s)`);
    if (has(r, 'min_len') && chars < n('min_len')) fail('min_len', `must be at least ${n('min_len')} character(s)`);
    if (has(r, 'max_len') && chars > n('max_len')) fail('max_len', `must be at most ${n('max_len')} character(s)`);
    if (has(r, 'len_bytes') && bytes !== n('len_bytes')) fail('len_bytes', `must be exactly ${n('len_bytes')} byte(s)`);
    if (has(r, 'min_bytes') && bytes < n('min_bytes')) fail('min_bytes', `must be at least ${n('min_bytes')} byte(s)`);
    if (has(r, 'max_bytes') && bytes > n('max_bytes')) fail('max_bytes', `must be at most ${n('max_bytes')} byte(s)`);
    if (has(r, 'pattern') && !compileRe2(String(r.pattern)).test(v)) fail('pattern', `does not match regex pattern ${JSON.stringify(r.pattern)}`);
    if (has(r, 'prefix') && !v.startsWith(String(r.prefix))) fail('prefix', `must start with ${JSON.stringify(r.prefix)}`);
    if (has(r, 'suffix') && !v.endsWith(String(r.suffix))) fail('suffix', `must end with ${JSON.stringify(r.suffix)}`);
    if (has(r, 'contains') && !v.includes(String(r.contains))) fail('contains', `must contain ${JSON.stringify(r.contains)}`);
    if (has(r, 'not_contains') && v.includes(String(r.not_contains))) fail('not_contains', `must not contain ${JSON.stringify(r.not_contains)}`);
    const inList = list(r.in).map(String);
    if (inList.length && !inList.includes(v)) fail('in', `must be in list ${JSON.stringify(inList)}`);
    const notIn = list(r.not_in).map(String);
    if (notIn.includes(v)) fail('not_in', `must not be in list ${JSON.stringify(notIn)}`);

    const formats: [string, (s: string) => boolean, string][] = [
      ['email', isEmail, 'a valid email address'],
      ['hostname', isHostname, 'a valid hostname'],
      ['ip', isIp, 'a valid IP address'],
      ['ipv4', isIp4, 'a valid IPv4 address'],
      ['ipv6', isIp6, 'a valid IPv6 address'],
      ['uri', (s) => isUri(s, true), 'a valid absolute URI'],
      ['uri_ref', (s) => isUri(s, false), 'a valid URI reference'],
      ['address', (s) => isHostname(s) || isIp(s), 'a valid hostname or IP address'],
      ['uuid', (s) => UUID_RE.test(s), 'a valid UUID'],
    ];
    for (const [rule, check, what] of formats) if (r[rule] === true && !check(v)) fail(rule, `must be ${what}`);

    if (has(r, 'well_known_regex')) {
      const which = r.well_known_regex;
      const strict = r.strict !== false; // validate.proto: [default = true]
      const isName = which === 'HTTP_HEADER_NAME' || which === 1;
      const isValue = which === 'HTTP_HEADER_VALUE' || which === 2;
      if (isName || isValue) {
        const re = !strict ? HEADER_LOOSE_RE : isName ? HEADER_NAME_RE : HEADER_VALUE_RE;
        if (!re.test(v)) fail('well_known_regex', `must be a valid HTTP header ${isName ? 'name' : 'value'}${strict ? '' : ' (no NUL, CR or LF)'}`);
      }
    }
  }

  private bytesRules(v: Uint8Array, r: Rules, path: string): void {
    if (r.ignore_empty === true && v.length === 0) return;
    const fail = (rule: string, message: string): void => this.fail(path, `bytes.${rule}`, message);
    const n = (k: string): number => toNumber(r[k]);
    const buf = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    if (has(r, 'const') && !bytesEqual(v, ruleBytes(r.const))) fail('const', `must equal ${formatBytes(ruleBytes(r.const))}`);
    if (has(r, 'len') && v.length !== n('len')) fail('len', `must be exactly ${n('len')} byte(s)`);
    if (has(r, 'min_len') && v.length < n('min_len')) fail('min_len', `must be at least ${n('min_len')} byte(s)`);
    if (has(r, 'max_len') && v.length > n('max_len')) fail('max_len', `must be at most ${n('max_len')} byte(s)`);
    // RE2 matches bytes as UTF-8 text; invalid sequences become U+FFFD and so rarely match.
    if (has(r, 'pattern') && !compileRe2(String(r.pattern)).test(buf.toString('utf8'))) {
      fail('pattern', `does not match regex pattern ${JSON.stringify(r.pattern)}`);
    }
    if (has(r, 'prefix') && !buf.subarray(0, ruleBytes(r.prefix).length).equals(ruleBytes(r.prefix))) {
      fail('prefix', `must start with ${formatBytes(ruleBytes(r.prefix))}`);
    }
    if (has(r, 'suffix')) {
      const suffix = ruleBytes(r.suffix);
      if (suffix.length > v.length || !buf.subarray(v.length - suffix.length).equals(suffix)) fail('suffix', `must end with ${formatBytes(suffix)}`);
    }
    if (has(r, 'contains') && buf.indexOf(ruleBytes(r.contains)) < 0) fail('contains', `must contain ${formatBytes(ruleBytes(r.contains))}`);
    const inList = list(r.in).map(ruleBytes);
    if (inList.length && !inList.some((x) => bytesEqual(v, x))) fail('in', `must be in list [${inList.map(formatBytes).join(', ')}]`);
    const notIn = list(r.not_in).map(ruleBytes);
    if (notIn.some((x) => bytesEqual(v, x))) fail('not_in', `must not be in list [${notIn.map(formatBytes).join(', ')}]`);
    if (r.ip === true && v.length !== 4 && v.length !== 16) fail('ip', 'must be a valid IP address (4 or 16 bytes)');
    if (r.ipv4 === true && v.length !== 4) fail('ipv4', 'must be a valid IPv4 address (4 bytes)');
    if (r.ipv6 === true && v.length !== 16) fail('ipv6', 'must be a valid IPv6 address (16 bytes)');
  }

  private timestampRules(v: bigint, r: Rules, path: string): void {
    this.ordered(v, r, timestampOrder, 'timestamp', path);
    const now = this.nowNanos;
    const within = has(r, 'within') ? toNanos(r.within) : undefined;
    const fmtWithin = within === undefined ? '' : ` within ${formatDuration(within)}`;
    if (r.lt_now === true) {
      if (v >= now || (within !== undefined && v < now - within)) this.fail(path, 'timestamp.lt_now', `must be before now${fmtWithin}`);
    } else if (r.gt_now === true) {
      if (v <= now || (within !== undefined && v > now + within)) this.fail(path, 'timestamp.gt_now', `must be after now${fmtWithin}`);
    } else if (within !== undefined && (v < now - within || v > now + within)) {
      this.fail(path, 'timestamp.within', `must be${fmtWithin} of now`);
    }
  }

  private anyRules(any: Record<string, unknown>, r: Rules | undefined, path: string): void {
    if (!r) return;
    const url = String(any.type_url ?? '');
    const inList = list(r.in).map(String);
    if (inList.length && !inList.includes(url)) this.fail(path, 'any.in', `type URL must be in list ${JSON.stringify(inList)}`);
    const notIn = list(r.not_in).map(String);
    if (notIn.includes(url)) this.fail(path, 'any.not_in', `type URL must not be in list ${JSON.stringify(notIn)}`);
  }

  /** Validates what an Any carries; Envoy refuses a payload whose type it does not know. */
  private anyPayload(any: Record<string, unknown>, path: string): void {
    const url = String(any.type_url ?? '');
    const type = this.lookup(url.slice(url.lastIndexOf('/') + 1));
    if (!type) {
      this.fail(path, 'any.type_url', `unknown type ${JSON.stringify(url)}`);
      return;
    }
    let inner: protobuf.Message<{}>;
    try {
      inner = type.decode(toBytes(any.value));
    } catch (err) {
      this.fail(path, 'any.decode', `cannot decode ${type.fullName.slice(1)}: ${(err as Error).message}`);
      return;
    }
    this.messageValue(type, inner, undefined, `${path}(${anyLabel(type)})`);
  }

  private lookup(name: string): protobuf.Type | undefined {
    if (!name) return undefined;
    let type = this.types.get(name);
    if (type === undefined) {
      const found = this.root.lookup(name);
      // protobufjs falls back to a deep search by simple name; insist on the exact full name.
      type = found instanceof protobuf.Type && found.fullName === `.${name}` ? found : null;
      this.types.set(name, type);
    }
    return type ?? undefined;
  }
}

function uniqueKey(protoType: string, item: unknown): string {
  if (item instanceof Uint8Array) return `b:${Buffer.from(item).toString('hex')}`;
  if (LONG_KINDS.has(protoType)) return `n:${String(toBigInt(item, UNSIGNED_LONG_KINDS.has(protoType)))}`;
  return `${typeof item}:${String(item)}`;
}

/** protobufjs map keys are strings: decimal for 32-bit ints, and for 64-bit ints either decimal or an 8-char Long hash. */
function mapKey(keyType: string, raw: string): unknown {
  if (keyType === 'string') return raw;
  if (keyType === 'bool') return raw === 'true';
  if (LONG_KINDS.has(keyType)) {
    if (/^-?\d+$/.test(raw)) return BigInt(raw);
    if (raw.length === 8) {
      const bits = protobuf.util.LongBits.fromHash(raw);
      return toBigInt({ low: bits.lo, high: bits.hi }, UNSIGNED_LONG_KINDS.has(keyType));
    }
    return raw;
  }
  return Number(raw);
}

/**
 * Every `(validate.rules)` violation in `message`, recursing into set sub-messages, repeated
 * elements, map values and Any payloads. `message` may be a protobufjs message or a plain object
 * in `fromObject` form. Any type URLs resolve in `root` (default: the Root that owns `type`).
 */
export function validateMessage(
  type: protobuf.Type,
  message: protobuf.Message<{}> | Record<string, unknown>,
  root?: protobuf.Root,
): RuleViolation[] {
  const validator = new Validator(root ?? type.root);
  validator.messageValue(type, message, undefined, '');
  return validator.out;
}

/**
 * Decodes `bytes` as `typeName` (a full message name or a type URL) with the Envoy root, or
 * `root`, and validates it. Bytes that do not decode are reported as a `decode` violation; a type
 * name the root does not know is a caller error and throws.
 */
export function validateEncoded(typeName: string, bytes: Uint8Array, root?: protobuf.Root): RuleViolation[] {
  const r = root ?? envoyRoot();
  const type = r.lookupType(typeName.slice(typeName.lastIndexOf('/') + 1));
  let message: protobuf.Message<{}>;
  try {
    message = type.decode(bytes);
  } catch (err) {
    return [{ path: '', rule: 'decode', message: `cannot decode ${type.fullName.slice(1)}: ${(err as Error).message}` }];
  }
  return validateMessage(type, message, r);
}
