/**
 * Checks protobuf messages against the protoc-gen-validate `(validate.rules)` annotations in the
 * Envoy protos, the same rules Envoy enforces with `MessageUtil::validate` before it accepts a
 * resource. There is no Envoy binary here, so this is how shardvoy proves its resources would load.
 *
 * Rules are read by reflection from the protobufjs Root (field `parsedOptions`), so nothing is
 * generated ahead of time. Semantics follow PGV's generated validators:
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
 *
 * Speed: the first time a message type is met, its fields' rules are compiled into closures (rule
 * literals converted, messages formatted) and the type gets a generated walker, both cached per
 * protobufjs Type; a Root is therefore expected not to change once it has been validated against.
 * In a decoded message, sub-trees that reach no rule and no Any are not descended at all, and
 * paths are spelled out only for a violation.
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

const floatOrder = numberOrder(true);
const doubleOrder = numberOrder(false);
const longOrder = bigintOrder(String, (r) => toBigInt(r, false) ?? 0n);
const durationOrder = bigintOrder(formatDuration, toNanos);
const timestampOrder = bigintOrder(formatTimestamp, toNanos);

interface Bound<T> {
  key: string;
  val: T;
  excl: boolean;
}

function bounds<T>(r: Rules, o: Order<T>): { hi: Bound<T> | undefined; lo: Bound<T> | undefined } {
  const bound = (k: string): T | undefined => (has(r, k) ? o.conv(r[k]) : undefined);
  const lt = bound('lt');
  const lte = bound('lte');
  const gt = bound('gt');
  const gte = bound('gte');
  const hi = lt !== undefined ? { key: 'lt', val: lt, excl: true } : lte !== undefined ? { key: 'lte', val: lte, excl: false } : undefined;
  const lo = gt !== undefined ? { key: 'gt', val: gt, excl: true } : gte !== undefined ? { key: 'gte', val: gte, excl: false } : undefined;
  return { hi, lo };
}

/**
 * lt/lte/gt/gte as PGV generates them: with both bounds, lower < upper means "inside the range",
 * otherwise the range is reversed and the value must lie outside it.
 */
function rangeFailure<T>(v: T, r: Rules, o: Order<T>): { rule: string; message: string } | undefined {
  const { hi, lo } = bounds(r, o);
  const below = (x: T, strict: boolean): boolean => (strict ? o.cmp(v, x) < 0 : o.cmp(v, x) <= 0);
  const above = (x: T, strict: boolean): boolean => (strict ? o.cmp(v, x) > 0 : o.cmp(v, x) >= 0);
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
// Compiled checks
//
// Each field's rules are turned once into a closure with every rule literal already converted
// (and every message that does not depend on the value already formatted), kept in its type's
// plan. A check reports through the Validator, which knows the path.

type Check = (value: unknown, v: Validator) => void;
type TypedCheck<T> = (value: T, v: Validator) => void;

const NOOP: Check = () => {};
const EMPTY: readonly unknown[] = Object.freeze([]);

function sequence<T>(checks: TypedCheck<T>[]): TypedCheck<T> | null {
  if (checks.length === 0) return null;
  if (checks.length === 1) return checks[0]!;
  return (value, v) => {
    for (const check of checks) check(value, v);
  };
}

function includesBy<T>(items: readonly T[], value: T, o: Order<T>): boolean {
  for (const item of items) if (o.cmp(value, item) === 0) return true;
  return false;
}

/** The uncompiled form of `compileOrdered`, for rule literals whose conversion throws (it then throws where it always did). */
function orderedInterp<T>(x: T, r: Rules, o: Order<T>, kind: string, v: Validator): void {
  if (has(r, 'const') && o.cmp(x, o.conv(r.const)) !== 0) v.fail(`${kind}.const`, `must equal ${o.fmt(o.conv(r.const))}`);
  const range = rangeFailure(x, r, o);
  if (range) v.fail(`${kind}.${range.rule}`, range.message);
  const inList = list(r.in).map(o.conv);
  if (inList.length && !inList.some((y) => o.cmp(x, y) === 0)) {
    v.fail(`${kind}.in`, `must be in list [${inList.map(o.fmt).join(', ')}]`);
  }
  const notIn = list(r.not_in).map(o.conv);
  if (notIn.some((y) => o.cmp(x, y) === 0)) v.fail(`${kind}.not_in`, `must not be in list [${notIn.map(o.fmt).join(', ')}]`);
}

/** const, the lt/lte/gt/gte range (see `rangeFailure`), in and not_in, for one ordered kind. */
function compileOrdered<T>(r: Rules, o: Order<T>, kind: string): TypedCheck<T> | null {
  let hasConst: boolean;
  let constant: T | undefined;
  let range: TypedCheck<T> | null;
  let inList: T[];
  let notIn: T[];
  try {
    hasConst = has(r, 'const');
    constant = hasConst ? o.conv(r.const) : undefined;
    range = compileRange(r, o, kind);
    inList = list(r.in).map(o.conv);
    notIn = list(r.not_in).map(o.conv);
  } catch {
    return (x, v) => orderedInterp(x, r, o, kind, v);
  }
  if (!hasConst && !range && inList.length === 0 && notIn.length === 0) return null;
  const c = constant as T;
  return (x, v) => {
    if (hasConst && o.cmp(x, c) !== 0) v.fail(`${kind}.const`, `must equal ${o.fmt(c)}`);
    if (range !== null) range(x, v);
    if (inList.length > 0 && !includesBy(inList, x, o)) v.fail(`${kind}.in`, `must be in list [${inList.map(o.fmt).join(', ')}]`);
    if (notIn.length > 0 && includesBy(notIn, x, o)) v.fail(`${kind}.not_in`, `must not be in list [${notIn.map(o.fmt).join(', ')}]`);
  };
}

/** `rangeFailure` with the bounds resolved up front. */
function compileRange<T>(r: Rules, o: Order<T>, kind: string): TypedCheck<T> | null {
  const { hi, lo } = bounds(r, o);
  // strict ? v < x : v <= x, and the mirror image; NaN compares false both ways.
  const below = (x: T, b: T, strict: boolean): boolean => (strict ? o.cmp(x, b) < 0 : o.cmp(x, b) <= 0);
  const above = (x: T, b: T, strict: boolean): boolean => (strict ? o.cmp(x, b) > 0 : o.cmp(x, b) >= 0);
  if (hi && lo) {
    if (o.cmp(hi.val, lo.val) > 0) {
      const inside = (): string => `must be inside range ${lo.excl ? '(' : '['}${o.fmt(lo.val)}, ${o.fmt(hi.val)}${hi.excl ? ')' : ']'}`;
      const loRule = `${kind}.${lo.key}`;
      const hiRule = `${kind}.${hi.key}`;
      return (x, v) => {
        if (below(x, lo.val, !lo.excl)) v.fail(loRule, inside());
        else if (above(x, hi.val, !hi.excl)) v.fail(hiRule, inside());
      };
    }
    const rule = `${kind}.${lo.key}_${hi.key}`;
    return (x, v) => {
      if (above(x, hi.val, !hi.excl) && below(x, lo.val, !lo.excl)) {
        v.fail(rule, `must be outside range ${hi.excl ? '[' : '('}${o.fmt(hi.val)}, ${o.fmt(lo.val)}${lo.excl ? ']' : ')'}`);
      }
    };
  }
  if (hi) {
    const rule = `${kind}.${hi.key}`;
    return (x, v) => {
      if (above(x, hi.val, !hi.excl)) v.fail(rule, `must be less than ${hi.excl ? '' : 'or equal to '}${o.fmt(hi.val)}`);
    };
  }
  if (lo) {
    const rule = `${kind}.${lo.key}`;
    return (x, v) => {
      if (below(x, lo.val, !lo.excl)) v.fail(rule, `must be greater than ${lo.excl ? '' : 'or equal to '}${o.fmt(lo.val)}`);
    };
  }
  return null;
}

function compileNumber(kind: string, protoType: string, r: Rules): Check {
  const ignoreEmpty = r.ignore_empty === true;
  if (LONG_KINDS.has(kind) || LONG_KINDS.has(protoType)) {
    const unsigned = UNSIGNED_LONG_KINDS.has(protoType) || UNSIGNED_LONG_KINDS.has(kind);
    const ordered = compileOrdered(r, longOrder, kind);
    const typeRule = `${kind}.type`;
    return (raw, v) => {
      const value = toBigInt(raw, unsigned);
      if (value === undefined) return v.fail(typeRule, `is not an integer: ${String(raw)}`);
      if (ignoreEmpty && value === 0n) return;
      if (ordered !== null) ordered(value, v);
    };
  }
  const round = kind === 'float';
  const ordered = compileOrdered(r, round ? floatOrder : doubleOrder, kind);
  return (raw, v) => {
    const value = round ? Math.fround(toNumber(raw)) : toNumber(raw);
    if (ignoreEmpty && value === 0) return;
    if (ordered !== null) ordered(value, v);
  };
}

function compileBool(r: Rules): Check | null {
  if (!has(r, 'const')) return null;
  const expected = r.const === true;
  const message = `must equal ${String(expected)}`;
  return (raw, v) => {
    if ((raw === true || raw === 'true') !== expected) v.fail('bool.const', message);
  };
}

function compileEnum(enumType: protobuf.Enum | null, r: Rules): Check {
  const hasConst = has(r, 'const');
  const constant = toNumber(r.const);
  const definedOnly = r.defined_only === true && enumType !== null;
  const inList = list(r.in).map(toNumber);
  const notIn = list(r.not_in).map(toNumber);
  return (raw, v) => {
    const x = (typeof raw === 'string' && enumType ? (enumType.values[raw] ?? Number.NaN) : toNumber(raw)) as number;
    if (hasConst && x !== constant) v.fail('enum.const', `must equal ${constant}`);
    if (definedOnly && enumType!.valuesById[x] === undefined) {
      v.fail('enum.defined_only', `${x} is not a defined value of ${enumType!.fullName.slice(1)}`);
    }
    if (inList.length && !inList.includes(x)) v.fail('enum.in', `must be in list [${inList.join(', ')}]`);
    if (notIn.length && notIn.includes(x)) v.fail('enum.not_in', `must not be in list [${notIn.join(', ')}]`);
  };
}

/** `[...s].length` (PGV counts Unicode code points, not UTF-16 units) without building the array. */
function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

const STRING_FORMATS: [string, (s: string) => boolean, string][] = [
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

function compileString(r: Rules): TypedCheck<string> {
  const ignoreEmpty = r.ignore_empty === true;
  const n = (k: string): number => toNumber(r[k]);
  const checks: TypedCheck<string>[] = [];
  const add = (rule: string, message: string, fails: (s: string) => boolean): void => {
    const name = `string.${rule}`;
    checks.push((s, v) => {
      if (fails(s)) v.fail(name, message);
    });
  };
  const hasLen = has(r, 'len') || has(r, 'min_len') || has(r, 'max_len');
  if (has(r, 'const')) {
    const c = String(r.const);
    add('const', `must equal ${JSON.stringify(c)}`, (s) => s !== c);
  }
  // Code points are counted once per value, and only when a length rule needs them.
  if (hasLen) {
    const len = has(r, 'len') ? n('len') : undefined;
    const min = has(r, 'min_len') ? n('min_len') : undefined;
    const max = has(r, 'max_len') ? n('max_len') : undefined;
    const lenMessage = `must be exactly ${len} character(s)`;
    const minMessage = `must be at least ${min} character(s)`;
    const maxMessage = `must be at most ${max} character(s)`;
    checks.push((s, v) => {
      const chars = codePoints(s);
      if (len !== undefined && chars !== len) v.fail('string.len', lenMessage);
      if (min !== undefined && chars < min) v.fail('string.min_len', minMessage);
      if (max !== undefined && chars > max) v.fail('string.max_len', maxMessage);
    });
  }
  if (has(r, 'len_bytes') || has(r, 'min_bytes') || has(r, 'max_bytes')) {
    const len = has(r, 'len_bytes') ? n('len_bytes') : undefined;
    const min = has(r, 'min_bytes') ? n('min_bytes') : undefined;
    const max = has(r, 'max_bytes') ? n('max_bytes') : undefined;
    checks.push((s, v) => {
      const bytes = Buffer.byteLength(s, 'utf8');
      if (len !== undefined && bytes !== len) v.fail('string.len_bytes', `must be exactly ${len} byte(s)`);
      if (min !== undefined && bytes < min) v.fail('string.min_bytes', `must be at least ${min} byte(s)`);
      if (max !== undefined && bytes > max) v.fail('string.max_bytes', `must be at most ${max} byte(s)`);
    });
  }
  if (has(r, 'pattern')) {
    const source = String(r.pattern);
    let re: RegExp | undefined; // compiled on first use, so a bad pattern throws only where it always did
    add('pattern', `does not match regex pattern ${JSON.stringify(r.pattern)}`, (s) => !(re ??= compileRe2(source)).test(s));
  }
  if (has(r, 'prefix')) {
    const prefix = String(r.prefix);
    add('prefix', `must start with ${JSON.stringify(r.prefix)}`, (s) => !s.startsWith(prefix));
  }
  if (has(r, 'suffix')) {
    const suffix = String(r.suffix);
    add('suffix', `must end with ${JSON.stringify(r.suffix)}`, (s) => !s.endsWith(suffix));
  }
  if (has(r, 'contains')) {
    const contains = String(r.contains);
    add('contains', `must contain ${JSON.stringify(r.contains)}`, (s) => !s.includes(contains));
  }
  if (has(r, 'not_contains')) {
    const notContains = String(r.not_contains);
    add('not_contains', `must not contain ${JSON.stringify(r.not_contains)}`, (s) => s.includes(notContains));
  }
  const inList = list(r.in).map(String);
  if (inList.length) add('in', `must be in list ${JSON.stringify(inList)}`, (s) => !inList.includes(s));
  const notIn = list(r.not_in).map(String);
  if (notIn.length) add('not_in', `must not be in list ${JSON.stringify(notIn)}`, (s) => notIn.includes(s));
  for (const [rule, check, what] of STRING_FORMATS) if (r[rule] === true) add(rule, `must be ${what}`, (s) => !check(s));
  if (has(r, 'well_known_regex')) {
    const which = r.well_known_regex;
    const strict = r.strict !== false; // validate.proto: [default = true]
    const isName = which === 'HTTP_HEADER_NAME' || which === 1;
    const isValue = which === 'HTTP_HEADER_VALUE' || which === 2;
    if (isName || isValue) {
      const re = !strict ? HEADER_LOOSE_RE : isName ? HEADER_NAME_RE : HEADER_VALUE_RE;
      add('well_known_regex', `must be a valid HTTP header ${isName ? 'name' : 'value'}${strict ? '' : ' (no NUL, CR or LF)'}`, (s) => !re.test(s));
    }
  }
  const all = sequence(checks) ?? NOOP;
  return ignoreEmpty ? (s, v) => s !== '' && all(s, v) : all;
}

function compileBytes(r: Rules): TypedCheck<Uint8Array> {
  const ignoreEmpty = r.ignore_empty === true;
  const n = (k: string): number => toNumber(r[k]);
  const checks: ((b: Uint8Array, buf: Buffer, v: Validator) => void)[] = [];
  const add = (rule: string, message: string, fails: (b: Uint8Array, buf: Buffer) => boolean): void => {
    const name = `bytes.${rule}`;
    checks.push((b, buf, v) => {
      if (fails(b, buf)) v.fail(name, message);
    });
  };
  if (has(r, 'const')) {
    const c = ruleBytes(r.const);
    add('const', `must equal ${formatBytes(c)}`, (b) => !bytesEqual(b, c));
  }
  if (has(r, 'len')) add('len', `must be exactly ${n('len')} byte(s)`, (b) => b.length !== n('len'));
  if (has(r, 'min_len')) add('min_len', `must be at least ${n('min_len')} byte(s)`, (b) => b.length < n('min_len'));
  if (has(r, 'max_len')) add('max_len', `must be at most ${n('max_len')} byte(s)`, (b) => b.length > n('max_len'));
  if (has(r, 'pattern')) {
    // RE2 matches bytes as UTF-8 text; invalid sequences become U+FFFD and so rarely match.
    const source = String(r.pattern);
    let re: RegExp | undefined;
    add('pattern', `does not match regex pattern ${JSON.stringify(r.pattern)}`, (_b, buf) => !(re ??= compileRe2(source)).test(buf.toString('utf8')));
  }
  if (has(r, 'prefix')) {
    const prefix = ruleBytes(r.prefix);
    add('prefix', `must start with ${formatBytes(prefix)}`, (_b, buf) => !buf.subarray(0, prefix.length).equals(prefix));
  }
  if (has(r, 'suffix')) {
    const suffix = ruleBytes(r.suffix);
    add('suffix', `must end with ${formatBytes(suffix)}`, (b, buf) => suffix.length > b.length || !buf.subarray(b.length - suffix.length).equals(suffix));
  }
  if (has(r, 'contains')) {
    const contains = ruleBytes(r.contains);
    add('contains', `must contain ${formatBytes(contains)}`, (_b, buf) => buf.indexOf(contains) < 0);
  }
  const inList = list(r.in).map(ruleBytes);
  if (inList.length) add('in', `must be in list [${inList.map(formatBytes).join(', ')}]`, (b) => !inList.some((x) => bytesEqual(b, x)));
  const notIn = list(r.not_in).map(ruleBytes);
  if (notIn.length) add('not_in', `must not be in list [${notIn.map(formatBytes).join(', ')}]`, (b) => notIn.some((x) => bytesEqual(b, x)));
  if (r.ip === true) add('ip', 'must be a valid IP address (4 or 16 bytes)', (b) => b.length !== 4 && b.length !== 16);
  if (r.ipv4 === true) add('ipv4', 'must be a valid IPv4 address (4 bytes)', (b) => b.length !== 4);
  if (r.ipv6 === true) add('ipv6', 'must be a valid IPv6 address (16 bytes)', (b) => b.length !== 16);
  return (b, v) => {
    if (ignoreEmpty && b.length === 0) return;
    const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    for (const check of checks) check(b, buf, v);
  };
}

/** Scalar and enum values (also the payload of a wrapper): one check per rule kind present, in the rules' order. */
function compileScalar(protoType: string, enumType: protobuf.Enum | null, rules: Rules | undefined): Check | null {
  if (!rules) return null;
  const checks: Check[] = [];
  for (const [kind, r] of Object.entries(rules)) {
    if (!isRules(r)) continue;
    if (NUMERIC_KINDS.has(kind)) checks.push(compileNumber(kind, protoType, r));
    else if (kind === 'string') {
      const check = compileString(r);
      checks.push((raw, v) => check(typeof raw === 'string' ? raw : String(raw ?? ''), v));
    } else if (kind === 'bytes') {
      const check = compileBytes(r);
      checks.push((raw, v) => check(toBytes(raw), v));
    } else if (kind === 'bool') {
      const check = compileBool(r);
      if (check) checks.push(check);
    } else if (kind === 'enum') checks.push(compileEnum(enumType, r));
  }
  return sequence(checks);
}

function timestampInterp(x: bigint, r: Rules, v: Validator): void {
  orderedInterp(x, r, timestampOrder, 'timestamp', v);
  const now = v.nowNanos();
  const within = has(r, 'within') ? toNanos(r.within) : undefined;
  const fmtWithin = within === undefined ? '' : ` within ${formatDuration(within)}`;
  if (r.lt_now === true) {
    if (x >= now || (within !== undefined && x < now - within)) v.fail('timestamp.lt_now', `must be before now${fmtWithin}`);
  } else if (r.gt_now === true) {
    if (x <= now || (within !== undefined && x > now + within)) v.fail('timestamp.gt_now', `must be after now${fmtWithin}`);
  } else if (within !== undefined && (x < now - within || x > now + within)) {
    v.fail('timestamp.within', `must be${fmtWithin} of now`);
  }
}

function compileTimestamp(r: Rules): TypedCheck<bigint> | null {
  const ordered = compileOrdered(r, timestampOrder, 'timestamp');
  let within: bigint | undefined;
  try {
    within = has(r, 'within') ? toNanos(r.within) : undefined;
  } catch {
    return (x, v) => timestampInterp(x, r, v);
  }
  const ltNow = r.lt_now === true;
  const gtNow = r.gt_now === true;
  if (!ltNow && !gtNow && within === undefined) return ordered;
  const fmtWithin = within === undefined ? '' : ` within ${formatDuration(within)}`;
  return (x, v) => {
    if (ordered !== null) ordered(x, v);
    const now = v.nowNanos();
    if (ltNow) {
      if (x >= now || (within !== undefined && x < now - within)) v.fail('timestamp.lt_now', `must be before now${fmtWithin}`);
    } else if (gtNow) {
      if (x <= now || (within !== undefined && x > now + within)) v.fail('timestamp.gt_now', `must be after now${fmtWithin}`);
    } else if (within !== undefined && (x < now - within || x > now + within)) {
      v.fail('timestamp.within', `must be${fmtWithin} of now`);
    }
  };
}

function compileAnyRules(r: Rules | undefined): TypedCheck<Record<string, unknown>> | null {
  if (!r) return null;
  const inList = list(r.in).map(String);
  const notIn = list(r.not_in).map(String);
  if (inList.length === 0 && notIn.length === 0) return null;
  return (any, v) => {
    const url = String(any.type_url ?? '');
    if (inList.length && !inList.includes(url)) v.fail('any.in', `type URL must be in list ${JSON.stringify(inList)}`);
    if (notIn.includes(url)) v.fail('any.not_in', `type URL must not be in list ${JSON.stringify(notIn)}`);
  };
}

// ---------------------------------------------------------------------------------------------
// Per-type plans

const ANY = '.google.protobuf.Any';
const DURATION = '.google.protobuf.Duration';
const TIMESTAMP = '.google.protobuf.Timestamp';
const REQUIRED_KINDS = ['message', 'any', 'duration', 'timestamp'];

/** Short label for an Any payload in paths: from the package segment before the version on. */
function anyLabel(type: protobuf.Type): string {
  const parts = type.fullName.replace(/^\./, '').split('.');
  const version = parts.findIndex((p) => /^v\d+(?:(?:alpha|beta)\d*)?$/.test(p));
  return version > 0 ? parts.slice(version - 1).join('.') : parts.join('.');
}

interface FieldPlan {
  readonly field: protobuf.Field;
  /** For a oneof member: the members after it. It is the set one when it is set and none of those is (protobufjs keeps only set members as own properties). */
  readonly later: readonly string[] | null;
  /** A singular field's check takes the value (the field default when unset); a repeated or map field's takes the property as it is. */
  readonly check: Check;
  readonly singular: boolean;
  /** A singular message field without `required` rules: unset, it cannot report anything. */
  readonly skipUnset: boolean;
  /** Whether it can report in a decoded message: it has rules, or leads to rules or an Any. */
  readonly decoded: boolean;
}

type Walker = (msg: Record<string, unknown>, v: Validator) => void;

interface TypePlan {
  /** Walks a message protobufjs decoded: only the fields that can report there. */
  readonly walkDecoded: Walker;
  /** Walks any message: also every other message-typed field, since a caller's object may hold values `fromObject` rejects. */
  readonly walkAll: Walker;
}

interface TypeInfo {
  plan?: TypePlan;
  /** Checks a value of this type that no field rule applies to: a top-level message or an Any payload. */
  bare?: Check;
  /** Whether a decoded message of this type can break any rule: rules here or below, or an Any below. */
  reaches?: boolean;
}

const typeInfos = new WeakMap<protobuf.Type, TypeInfo>();

function infoOf(type: protobuf.Type): TypeInfo {
  let info = typeInfos.get(type);
  if (!info) typeInfos.set(type, (info = {}));
  return info;
}

function isSpecial(name: string): boolean {
  return name === DURATION || name === TIMESTAMP || WRAPPERS.has(name);
}

/**
 * Whether anything reachable from `type` through message fields (its own fields included) has a
 * rule or is an Any (whose payload is decoded and checked). Durations, timestamps and wrappers
 * take their rules from the field that holds them, and disabled types are not descended, so they
 * end the search. A search that finds nothing proves every type it visited clean too.
 */
function reachesRules(type: protobuf.Type): boolean {
  const info = infoOf(type);
  if (info.reaches !== undefined) return info.reaches;
  const visited = new Set<protobuf.Type>([type]);
  const queue = [type];
  let found = false;
  search: for (let i = 0; i < queue.length; i++) {
    const t = queue[i]!;
    const name = t.fullName;
    if (name === ANY) {
      found = true;
      break;
    }
    if (isSpecial(name) || isDisabled(t)) continue;
    if (t.oneofsArray.some(isOneofRequired)) {
      found = true;
      break;
    }
    for (const field of t.fieldsArray) {
      if (fieldRules(field) !== undefined) {
        found = true;
        break search;
      }
      try {
        field.resolve();
      } catch {
        found = true; // it will throw where it always did
        break search;
      }
      const child = field.resolvedType;
      if (child instanceof protobuf.Type && !visited.has(child)) {
        visited.add(child);
        queue.push(child);
      }
    }
  }
  if (found) info.reaches = true;
  else for (const t of visited) infoOf(t).reaches = false;
  return found;
}

/** A message-typed value as an instance of `type` (converting a caller's plain object), or undefined after reporting why not. */
function asMessage(type: protobuf.Type, value: unknown, notA: string, v: Validator): Record<string, unknown> | undefined {
  // The decoder builds every sub-message with `new type.ctor`, so what it produced needs no test.
  if (v.decoded || value instanceof type.ctor) return value as Record<string, unknown>;
  try {
    return type.fromObject(value as Record<string, unknown>) as unknown as Record<string, unknown>;
  } catch (err) {
    v.fail('type', `${notA}${(err as Error).message}`);
    return undefined;
  }
}

function hasRequired(rules: Rules | undefined): boolean {
  return REQUIRED_KINDS.some((kind) => sub(rules, kind)?.required === true);
}

/**
 * The check of a message-typed value (field, repeated element, map value, top-level message) under
 * `rules`: `required` when unset; otherwise Any rules and payload, Duration and Timestamp ranges,
 * wrapper payload rules, or the fields of the message itself unless `message.skip`.
 */
function compileMessageValue(type: protobuf.Type, rules: Rules | undefined): Check {
  const name = type.fullName;
  const required = REQUIRED_KINDS.filter((kind) => sub(rules, kind)?.required === true).map((kind) => `${kind}.required`);
  const skip = sub(rules, 'message')?.skip === true;
  const notA = `is not a ${name.slice(1)}: `;
  const special = name === ANY || isSpecial(name);
  if (!special && !skip) {
    // The common case, kept to one closure: a message walked field by field.
    let plan: TypePlan | undefined;
    return (value, v) => {
      if (value === undefined || value === null) {
        for (const rule of required) v.fail(rule, 'is required');
        return;
      }
      const msg = asMessage(type, value, notA, v);
      if (msg === undefined) return;
      plan ??= planOf(type);
      if (v.decoded) plan.walkDecoded(msg, v);
      else plan.walkAll(msg, v);
    };
  }
  let body: TypedCheck<Record<string, unknown>> = NOOP;
  if (name === ANY) {
    const anyRules = compileAnyRules(sub(rules, 'any'));
    body = (msg, v) => {
      if (anyRules !== null) anyRules(msg, v);
      if (!skip) anyPayload(msg, v);
    };
  } else if (name === DURATION) {
    const r = sub(rules, 'duration');
    const ordered = r ? compileOrdered(r, durationOrder, 'duration') : null;
    if (r) body = ordered ? (msg, v) => ordered(toNanos(msg), v) : (msg) => void toNanos(msg); // (toNanos can throw)
  } else if (name === TIMESTAMP) {
    const r = sub(rules, 'timestamp');
    const check = r ? compileTimestamp(r) : null;
    if (r) body = check ? (msg, v) => check(toNanos(msg), v) : (msg) => void toNanos(msg);
  } else if (WRAPPERS.has(name)) {
    const inner = type.fields.value;
    if (inner) {
      let check: Check | null = null;
      try {
        inner.resolve();
        check = compileScalar(inner.type, null, rules);
      } catch {
        body = () => void inner.resolve();
      }
      if (check) body = (msg, v) => check(msg.value === undefined || msg.value === null ? inner.defaultValue : msg.value, v);
    }
  }
  return (value, v) => {
    if (value === undefined || value === null) {
      for (const rule of required) v.fail(rule, 'is required');
      return;
    }
    const msg = asMessage(type, value, notA, v);
    if (msg !== undefined) body(msg, v);
  };
}

function bareCheck(type: protobuf.Type): Check {
  const info = infoOf(type);
  return (info.bare ??= compileMessageValue(type, undefined));
}

interface RequiredOneof {
  readonly name: string;
  readonly members: readonly string[];
  readonly message: string;
}

/**
 * A type's walker as straight-line code, the way protobufjs generates its decoders: property names
 * are literals, so each load has its own inline cache instead of one megamorphic keyed load for
 * every field of every type. The oneof checks come first, then the fields in declaration order.
 */
function generateWalker(type: protobuf.Type, oneofs: readonly RequiredOneof[], fields: readonly FieldPlan[]): Walker {
  const lit = (name: string): string => JSON.stringify(name);
  const isSetCode = (name: string): string => `(H.call(m, ${lit(name)}) && (x = m[${lit(name)}]) !== undefined && x !== null)`;
  const lines = ['var x;'];
  oneofs.forEach((oneof, k) => {
    const anySet = oneof.members.length ? oneof.members.map(isSetCode).join(' || ') : 'false';
    lines.push(`if (!(${anySet})) { v.push(0, O[${k}].name); v.fail("oneof.required", O[${k}].message); v.pop(); }`);
  });
  fields.forEach((field, i) => {
    const name = lit(field.field.name);
    const call = `{ v.push(0, ${name}); C[${i}](x, v); v.pop(); }`;
    if (field.later !== null) {
      const shadowed = field.later.map((member) => ` && !${isSetCode(member)}`).join('');
      lines.push(`if (${isSetCode(field.field.name)}${shadowed}) { x = m[${name}]; ${call} }`);
    } else if (!field.singular) {
      lines.push(`x = m[${name}]; ${call}`);
    } else if (field.skipUnset) {
      lines.push(`x = m[${name}]; if (x !== undefined && x !== null) ${call}`);
    } else {
      lines.push(`x = m[${name}]; if (x === undefined || x === null) x = F[${i}].defaultValue; ${call}`);
    }
  });
  const fnName = `validate_${type.fullName.replace(/[^A-Za-z0-9_]/g, '_')}`;
  // Field names come from reflection and are quoted as JSON string literals.
  const factory = new Function('H', 'O', 'C', 'F', `"use strict";\nreturn function ${fnName}(m, v) {\n  ${lines.join('\n  ')}\n};`);
  return factory(
    Object.prototype.hasOwnProperty,
    oneofs,
    fields.map((field) => field.check),
    fields.map((field) => field.field),
  ) as Walker;
}

function planOf(type: protobuf.Type): TypePlan {
  const info = infoOf(type);
  if (info.plan) return info.plan;
  if (isDisabled(type)) return (info.plan = { walkDecoded: NOOP, walkAll: NOOP });
  // The oneof a field belongs to decides whether it is checked at all.
  const laterMembers = new Map<string, string[]>();
  for (const oneof of type.oneofsArray) {
    oneof.oneof.forEach((member, i) => laterMembers.set(member, oneof.oneof.slice(i + 1)));
  }
  const fields: FieldPlan[] = [];
  for (const field of type.fieldsArray) {
    const compiled = compileField(field);
    if (compiled) fields.push({ field, later: laterMembers.get(field.name) ?? null, ...compiled });
  }
  const oneofs = type.oneofsArray
    .filter(isOneofRequired)
    .map((oneof) => ({ name: oneof.name, members: [...oneof.oneof], message: `exactly one of [${oneof.oneof.join(', ')}] is required` }));
  info.plan = {
    walkDecoded: generateWalker(type, oneofs, fields.filter((field) => field.decoded)),
    walkAll: generateWalker(type, oneofs, fields),
  };
  return info.plan;
}

type CompiledField = Pick<FieldPlan, 'check' | 'singular' | 'skipUnset' | 'decoded'>;

/**
 * A field's check, or null when it can never report. `decoded` says whether it can report in a
 * decoded message; message-typed fields are checked anyway in callers' objects, for `fromObject`.
 */
function compileField(field: protobuf.Field): CompiledField | null {
  try {
    field.resolve();
  } catch {
    return { check: () => void field.resolve(), singular: false, skipUnset: false, decoded: true };
  }
  const rules = fieldRules(field);
  const resolved = field.resolvedType;
  const message = resolved instanceof protobuf.Type ? resolved : null;
  const enumType = resolved instanceof protobuf.Enum ? resolved : null;
  const reaches = message !== null && reachesRules(message);
  if (field instanceof protobuf.MapField) return compileMap(field, rules, message, enumType, reaches);
  if (field.repeated) return compileRepeated(field, rules, message, enumType, reaches);
  if (message) {
    const skipUnset = !hasRequired(rules) && (field.defaultValue === undefined || field.defaultValue === null);
    return { check: compileMessageValue(message, rules), singular: true, skipUnset, decoded: rules !== undefined || reaches };
  }
  const check = compileScalar(field.type, enumType, rules);
  return check ? { check, singular: true, skipUnset: false, decoded: true } : null;
}

function compileRepeated(
  field: protobuf.Field,
  rules: Rules | undefined,
  message: protobuf.Type | null,
  enumType: protobuf.Enum | null,
  reaches: boolean,
): CompiledField | null {
  const r = sub(rules, 'repeated');
  const itemRules = sub(r, 'items');
  const item = message ? compileMessageValue(message, itemRules) : compileScalar(field.type, enumType, itemRules);
  // Whether items can report in a decoded message; callers' objects always have message items checked.
  const itemsDecoded = message ? itemRules !== undefined || reaches : item !== null;
  if (!r && !item) return null;
  const ignoreEmpty = r?.ignore_empty === true;
  const min = r && has(r, 'min_items') ? toNumber(r.min_items) : undefined;
  const max = r && has(r, 'max_items') ? toNumber(r.max_items) : undefined;
  // PGV defines unique only for scalars and enums.
  const unique = r?.unique === true && !message;
  const protoType = field.type;
  const check: Check = (raw, v) => {
    const items = Array.isArray(raw) ? (raw as unknown[]) : EMPTY;
    const count = items.length;
    if (r && !(ignoreEmpty && count === 0)) {
      if (min !== undefined && count < min) v.fail('repeated.min_items', `must contain at least ${min} item(s)`);
      if (max !== undefined && count > max) v.fail('repeated.max_items', `must contain no more than ${max} item(s)`);
      if (unique) {
        const seen = new Map<string, number>();
        for (let i = 0; i < count; i++) {
          if (!(i in items)) continue; // as forEach, which skips holes
          const key = uniqueKey(protoType, items[i]);
          const first = seen.get(key);
          if (first === undefined) seen.set(key, i);
          else {
            v.push(SEG_INDEX, i);
            v.fail('repeated.unique', `repeats the value of item ${first}`);
            v.pop();
          }
        }
      }
    }
    if (item === null || !(itemsDecoded || !v.decoded)) return;
    for (let i = 0; i < count; i++) {
      if (!(i in items)) continue;
      v.push(SEG_INDEX, i);
      item(items[i], v);
      v.pop();
    }
  };
  return { check, singular: false, skipUnset: false, decoded: r !== undefined || itemsDecoded };
}

function compileMap(
  field: protobuf.MapField,
  rules: Rules | undefined,
  message: protobuf.Type | null,
  enumType: protobuf.Enum | null,
  reaches: boolean,
): CompiledField | null {
  const r = sub(rules, 'map');
  const keyRules = sub(r, 'keys');
  const keyType = field.keyType;
  const key = keyRules ? compileScalar(keyType, null, keyRules) : null;
  const valueRules = sub(r, 'values');
  const value = message ? compileMessageValue(message, valueRules) : compileScalar(field.type, enumType, valueRules);
  const noSparse = r?.no_sparse === true;
  // Whether the entries can report in a decoded message; callers' objects always have message values checked.
  const entriesDecoded = key !== null || (message !== null && (noSparse || valueRules !== undefined || reaches)) || (!message && value !== null);
  const entriesAll = entriesDecoded || message !== null;
  if (!r && !entriesAll) return null;
  const ignoreEmpty = r?.ignore_empty === true;
  const min = r && has(r, 'min_pairs') ? toNumber(r.min_pairs) : undefined;
  const max = r && has(r, 'max_pairs') ? toNumber(r.max_pairs) : undefined;
  const check: Check = (raw, v) => {
    const map = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
    const keys = Object.keys(map);
    if (r && !(ignoreEmpty && keys.length === 0)) {
      if (min !== undefined && keys.length < min) v.fail('map.min_pairs', `must contain at least ${min} pair(s)`);
      if (max !== undefined && keys.length > max) v.fail('map.max_pairs', `must contain no more than ${max} pair(s)`);
    }
    if (!(entriesDecoded || (entriesAll && !v.decoded))) return;
    for (const rawKey of keys) {
      v.pushKey(rawKey, keyType);
      if (key !== null) {
        const start = v.out.length;
        key(mapKey(keyType, rawKey), v);
        for (let i = start; i < v.out.length; i++) v.out[i]!.rule = `map.keys.${v.out[i]!.rule}`;
      }
      const entry = map[rawKey];
      if (message && (entry === undefined || entry === null)) {
        if (noSparse) v.fail('map.no_sparse', 'value cannot be unset');
      } else if (value !== null) value(entry, v);
      v.pop();
    }
  };
  return { check, singular: false, skipUnset: false, decoded: r !== undefined || entriesDecoded };
}

/** Validates what an Any carries; Envoy refuses a payload whose type it does not know. */
function anyPayload(any: Record<string, unknown>, v: Validator): void {
  const url = String(any.type_url ?? '');
  const target = v.lookup(url);
  if (!target) {
    v.fail('any.type_url', `unknown type ${JSON.stringify(url)}`);
    return;
  }
  let inner: protobuf.Message<{}>;
  try {
    inner = target.type.decode(toBytes(any.value));
  } catch (err) {
    v.fail('any.decode', `cannot decode ${target.type.fullName.slice(1)}: ${(err as Error).message}`);
    return;
  }
  v.push(SEG_ANY, target.label);
  const decoded = v.decoded;
  v.decoded = true; // everything below came out of the decoder
  target.check(inner, v);
  v.decoded = decoded;
  v.pop();
}

/** What an Any type URL names in a root. */
interface AnyTarget {
  readonly type: protobuf.Type;
  readonly label: string;
  readonly check: Check;
}

/** Any payload types by full name, per root: only hits are kept across calls (a miss, per call). */
const anyTargets = new WeakMap<protobuf.Root, Map<string, AnyTarget>>();

// ---------------------------------------------------------------------------------------------
// The walker

const SEG_FIELD = 0;
const SEG_INDEX = 1;
const SEG_KEY = 2;
const SEG_ANY = 3;

class Validator {
  readonly out: RuleViolation[] = [];
  /**
   * True while walking a message protobufjs decoded: every sub-message is then an instance of its
   * type, so sub-trees that hold no rule (and no Any) cannot report anything and are skipped.
   */
  decoded: boolean;
  private readonly nowMs = Date.now();
  private now: bigint | undefined;
  // The path, kept as segments and spelled out only for a violation.
  private depth = 0;
  private readonly segKinds: number[] = [];
  private readonly segValues: (string | number)[] = [];
  private segKeyTypes: string[] | undefined;
  private targets: Map<string, AnyTarget> | undefined;
  private missing: Set<string> | undefined;

  constructor(
    private readonly root: protobuf.Root,
    decoded: boolean,
  ) {
    this.decoded = decoded;
  }

  push(kind: number, value: string | number): void {
    const d = this.depth++;
    this.segKinds[d] = kind;
    this.segValues[d] = value;
  }

  pushKey(rawKey: string, keyType: string): void {
    (this.segKeyTypes ??= [])[this.depth] = keyType;
    this.push(SEG_KEY, rawKey);
  }

  pop(): void {
    this.depth--;
  }

  fail(rule: string, message: string): void {
    this.out.push({ path: this.path(), rule, message });
  }

  private path(): string {
    let path = '';
    for (let i = 0; i < this.depth; i++) {
      const value = this.segValues[i]!;
      switch (this.segKinds[i]) {
        case SEG_FIELD:
          path = path ? `${path}.${value}` : String(value);
          break;
        case SEG_INDEX:
          path = `${path}[${value}]`;
          break;
        case SEG_KEY: {
          const key = mapKey(this.segKeyTypes![i]!, String(value));
          path = `${path}[${typeof key === 'string' ? JSON.stringify(key) : String(key)}]`;
          break;
        }
        default:
          path = `${path}(${value})`;
      }
    }
    return path;
  }

  /** The wall clock at the start of the call, for timestamp lt_now/gt_now/within. */
  nowNanos(): bigint {
    return (this.now ??= BigInt(this.nowMs) * 1_000_000n);
  }

  /** The type an Any's type URL names: the part after the last '/', an exact full name in the root. */
  lookup(url: string): AnyTarget | undefined {
    let targets = this.targets;
    if (!targets) {
      targets = anyTargets.get(this.root);
      if (!targets) anyTargets.set(this.root, (targets = new Map()));
      this.targets = targets;
    }
    const name = url.slice(url.lastIndexOf('/') + 1);
    const hit = targets.get(name);
    if (hit) return hit;
    if (!name || this.missing?.has(name)) return undefined;
    const found = this.root.lookup(name);
    // protobufjs falls back to a deep search by simple name; insist on the exact full name.
    if (found instanceof protobuf.Type && found.fullName === `.${name}`) {
      const target = { type: found, label: anyLabel(found), check: bareCheck(found) };
      targets.set(name, target);
      return target;
    }
    (this.missing ??= new Set()).add(name);
    return undefined;
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
  const validator = new Validator(root ?? type.root, false);
  bareCheck(type)(message, validator);
  return validator.out;
}

/** Message types (and their checks) by the name asked for, per root: `lookupType` walks namespaces, too slow for every call. */
const encodedTypes = new WeakMap<protobuf.Root, Map<string, { type: protobuf.Type; check: Check }>>();

/**
 * Decodes `bytes` as `typeName` (a full message name or a type URL) with the Envoy root, or
 * `root`, and validates it. Bytes that do not decode are reported as a `decode` violation; a type
 * name the root does not know is a caller error and throws.
 */
export function validateEncoded(typeName: string, bytes: Uint8Array, root?: protobuf.Root): RuleViolation[] {
  const r = root ?? envoyRoot();
  let types = encodedTypes.get(r);
  if (!types) encodedTypes.set(r, (types = new Map()));
  const name = typeName.slice(typeName.lastIndexOf('/') + 1);
  let entry = types.get(name);
  if (!entry) {
    const type = r.lookupType(name);
    types.set(name, (entry = { type, check: bareCheck(type) }));
  }
  let message: protobuf.Message<{}>;
  try {
    message = entry.type.decode(bytes);
  } catch (err) {
    return [{ path: '', rule: 'decode', message: `cannot decode ${entry.type.fullName.slice(1)}: ${(err as Error).message}` }];
  }
  const validator = new Validator(r, true);
  entry.check(message, validator);
  return validator.out;
}
