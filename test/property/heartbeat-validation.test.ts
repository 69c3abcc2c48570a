/**
 * Property tests of POST /v1/heartbeat against an oracle written from docs/heartbeat-rules.md
 * section 1 (the heartbeat's fields, the 64 KiB limit, the answers), not from src: bodies mixing valid and invalid values
 * for every field go through the real Fastify app, and
 *  - the answer is 200 exactly when the oracle finds the body valid (413 when it is too large);
 *  - on 200 the stored node is exactly the fields sent plus the contract's defaults;
 *  - on a 4xx the error is {statusCode, error, message}, the message names a field the oracle
 *    finds bad (and no field it finds good), and the registry is byte-for-byte unchanged.
 *
 * Where the contract is silent the oracle takes the reading written next to the rule (and marked
 * "Reading" in docs/heartbeat-rules.md). Cases the
 * property once found the server wrong on are pinned at the end.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHeartbeatBody } from '../../src/sources/http/heartbeat-check.js';
import { buildTestApp, type TestApp } from '../support/app.js';

// ---------------------------------------------------------------------------------------------
// The oracle: docs/heartbeat-rules.md section 1, written out independently of src/

const KNOWN_FIELDS = ['id', 'address', 'database', 'shard', 'role', 'status', 'dc', 'epoch', 'labels'] as const;
const MAX_BODY_BYTES = 64 * 1024;
const LEASE_SECONDS = 10;

/** Characters as a user counts them: code points, not UTF-16 units. */
const chars = (s: string) => [...s].length;

const isIdText = (v: unknown): v is string => typeof v === 'string' && /^[A-Za-z0-9._:@-]{1,128}$/.test(v);
const isNameText = (v: unknown): v is string => typeof v === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(v);

/** Dotted decimal, four parts 0..255, no leading zeros (inet_pton's reading). */
function isIPv4Text(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
}

/** RFC 4291 section 2.2 text forms: eight groups, one "::", an optional dotted IPv4 tail; no zone index. */
function isIPv6Text(s: string): boolean {
  let text = s;
  const lastColon = text.lastIndexOf(':');
  if (lastColon < 0) return false;
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    if (!isIPv4Text(tail)) return false;
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const group = /^[0-9A-Fa-f]{1,4}$/;
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const halves = text.split('::');
  if (halves.length > 2) return false;
  if (halves.length === 2) {
    const all = [...groups(halves[0]!), ...groups(halves[1]!)];
    return all.length <= 7 && all.every((g) => group.test(g));
  }
  const all = groups(text);
  return all.length === 8 && all.every((g) => group.test(g));
}

/**
 * RFC 1123 host name: labels of letters, digits and hyphens, 1..63 long, no hyphen at either end,
 * at most 253 characters without the optional root dot. Reading: a name of digits and dots only
 * is a (malformed) IPv4 address, not a name.
 */
function isDnsNameText(s: string): boolean {
  const name = s.endsWith('.') ? s.slice(0, -1) : s;
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  if (labels.every((l) => /^[0-9]+$/.test(l))) return false;
  return labels.every((l) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l));
}

/**
 * Reading: the port is written in decimal without leading zeros, value 1..65535 ("09201" would
 * name the same port as "9201" under a second address, so a second node id).
 */
function isPortText(s: string): boolean {
  return /^[1-9][0-9]*$/.test(s) && Number(s) <= 65535;
}

function isAddressText(v: unknown): v is string {
  if (typeof v !== 'string') return false;
  if (v.startsWith('[')) {
    const m = /^\[([^\]]*)\]:(.*)$/s.exec(v);
    return m !== null && isIPv6Text(m[1]!) && isPortText(m[2]!);
  }
  const colon = v.lastIndexOf(':');
  if (colon < 0) return false;
  const host = v.slice(0, colon);
  return (isIPv4Text(host) || isDnsNameText(host)) && isPortText(v.slice(colon + 1));
}

/**
 * "at most 32 string->string pairs, each at most 256 chars". Readings where the contract is
 * silent, as the server documents them in its schema: a label name has at least one character,
 * and neither names nor values hold control characters (U+0000..U+001F, U+007F).
 */
const CONTROL = /[\u0000-\u001f\u007f]/;
function isLabels(v: unknown): v is Record<string, string> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const entries = Object.entries(v);
  return (
    entries.length <= 32 &&
    entries.every(
      ([k, val]) => chars(k) >= 1 && chars(k) <= 256 && !CONTROL.test(k) && typeof val === 'string' && chars(val) <= 256 && !CONTROL.test(val),
    )
  );
}

const isEpoch = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 2 ** 53 - 1;

/**
 * "integer 0..2^53-1", read on the number as written: JSON.parse reads 1e-400 as 0 and
 * 9007199254740991.4 as 2^53-1, so a literal counts only as decimal digits (no sign, fraction or
 * exponent) whose value is in range.
 */
const isEpochLiteral = (literal: string | undefined) => literal !== undefined && /^(0|[1-9][0-9]*)$/.test(literal) && BigInt(literal) <= 2n ** 53n - 1n;

const JSON_TOKEN = /"(?:[^"\\]|\\.)*"|[{}[\]:,]|[^\s{}[\]:,"]+/g;
/** The text of the last top-level `key` member's value, if it is a number (as JSON.parse, the last of duplicates wins). */
function topLevelNumberText(payload: string, key: string): string | undefined {
  const tokens = payload.match(JSON_TOKEN) ?? [];
  let depth = 0;
  let found: string | undefined;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token === '{' || token === '[') depth++;
    else if (token === '}' || token === ']') depth--;
    else if (depth === 1 && token.startsWith('"') && tokens[i + 1] === ':' && JSON.parse(token) === key) {
      const value = tokens[i + 2] ?? '';
      found = /^[-0-9]/.test(value) ? value : undefined;
    }
  }
  return found;
}

interface ExpectedNode {
  id: string;
  address: string;
  database: string;
  shard: string;
  role: string;
  status: string;
  dc: string | undefined;
  epoch: number;
  labels: Record<string, string>;
}

type Verdict =
  | { status: 200; node: ExpectedNode }
  /** blame: the top-level fields at fault, or 'body' for the body as a whole. */
  | { status: 400 | 413; blame: 'body' | Set<string> };

function judge(payload: string): Verdict {
  if (Buffer.byteLength(payload, 'utf8') > MAX_BODY_BYTES) return { status: 413, blame: 'body' };
  let body: unknown;
  try {
    body = JSON.parse(payload);
  } catch {
    return { status: 400, blame: 'body' };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { status: 400, blame: 'body' };
  const b = body as Record<string, unknown>;
  const has = (k: string) => Object.prototype.hasOwnProperty.call(b, k);
  const bad = new Set<string>(Object.keys(b).filter((k) => !(KNOWN_FIELDS as readonly string[]).includes(k)));
  if (!has('address') || !isAddressText(b.address)) bad.add('address');
  if (has('id') && !isIdText(b.id)) bad.add('id');
  for (const k of ['database', 'shard'] as const) if (!has(k) || !isNameText(b[k])) bad.add(k);
  if (!has('role') || !['master', 'replica'].includes(b.role as string)) bad.add('role');
  if (has('status') && !['active', 'draining', 'inactive'].includes(b.status as string)) bad.add('status');
  if (has('dc') && !isNameText(b.dc)) bad.add('dc');
  if (has('epoch') && !(isEpoch(b.epoch) && isEpochLiteral(topLevelNumberText(payload, 'epoch')))) bad.add('epoch');
  if (has('labels') && !isLabels(b.labels)) bad.add('labels');
  if (bad.size > 0) return { status: 400, blame: bad };
  return {
    status: 200,
    node: {
      id: (b.id as string | undefined) ?? (b.address as string),
      address: b.address as string,
      database: b.database as string,
      shard: b.shard as string,
      role: b.role as string,
      status: (b.status as string | undefined) ?? 'active',
      dc: b.dc as string | undefined,
      epoch: (b.epoch as number | undefined) ?? 0,
      labels: (b.labels as Record<string, string> | undefined) ?? {},
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Generators: valid and invalid values for every field

const ABSENT = Symbol('absent');
type Maybe<T> = T | typeof ABSENT;

const ID_CHARS = [...'ABCXYZabcxyz0123456789._:@-'];
const NAME_CHARS = [...'ABCXYZabcxyz0123456789._-'];
/** Characters outside both charsets: separators, control characters, non-ASCII, JSON specials. */
const BAD_CHARS = [' ', '/', '#', '%', '?', '+', ',', '*', '[', ']', '"', '\\', '\u0000', '\u0001', '\t', '\n', '\u001f', '\u007f', 'é', 'ß', 'Я', '中', '😀', '\u200b', '\ufeff', '\ud800'];

const of = (alphabet: string[], minLength: number, maxLength: number) => fc.string({ unit: fc.constantFrom(...alphabet), minLength, maxLength });

/** Short strings and strings up to the length limit. */
const sized = (alphabet: string[], limit: number) => fc.oneof({ weight: 6, arbitrary: of(alphabet, 1, 12) }, { weight: 2, arbitrary: of(alphabet, limit - 3, limit) });
/** Strings just beyond the length limit. */
const oversized = (alphabet: string[], limit: number) => of(alphabet, limit + 1, limit + 4);

/** A string with one to three foreign characters spliced in. */
const spliced = (base: fc.Arbitrary<string>) =>
  fc.tuple(base, fc.array(fc.constantFrom(...BAD_CHARS), { minLength: 1, maxLength: 3 }), fc.nat()).map(([s, bad, at]) => {
    const units = [...s];
    const i = units.length === 0 ? 0 : at % (units.length + 1);
    return [...units.slice(0, i), ...bad, ...units.slice(i)].join('');
  });

const notAString = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant([]), fc.constant({}), fc.array(fc.string(), { maxLength: 2 }));
const anyUnicode = fc.string({ unit: 'binary', maxLength: 16 });

/** A field's values: `valid` ones are meant to pass (the oracle still judges each), `invalid` ones to fail. */
interface Field {
  readonly valid: fc.Arbitrary<unknown>;
  readonly invalid: fc.Arbitrary<unknown>;
}
const field = (valid: fc.Arbitrary<unknown>, invalid: fc.Arbitrary<unknown>): Field => ({ valid, invalid });
/** Mostly valid (weight 8 of 9), so that about a quarter of the mixed bodies are valid as a whole. */
const mixed = (f: Field) => fc.oneof({ weight: 8, arbitrary: f.valid }, { weight: 1, arbitrary: f.invalid });

const idPool = fc.constantFrom('dkv-a1', 'dkv-a2', 'n@host:1', 'Node.7', '_x', '..', '.');
const idArb = field(fc.oneof(idPool, sized(ID_CHARS, 128)), fc.oneof(fc.constant(''), oversized(ID_CHARS, 128), spliced(of(ID_CHARS, 0, 10)), anyUnicode, notAString));

const nameArb = (pool: string[]) =>
  field(
    fc.oneof(fc.constantFrom(...pool), sized(NAME_CHARS, 64)),
    fc.oneof(fc.constant(''), oversized(NAME_CHARS, 64), spliced(of(NAME_CHARS, 0, 10)), of([...NAME_CHARS, ':', '@'], 1, 6), anyUnicode, notAString),
  );

const octet = fc.integer({ min: 0, max: 255 }).map(String);
const ipv4 = fc.tuple(octet, octet, octet, octet).map((p) => p.join('.'));
const badIpv4 = fc.oneof(
  fc.tuple(octet, octet, octet, fc.integer({ min: 256, max: 999 })).map((p) => p.join('.')),
  fc.array(octet, { minLength: 1, maxLength: 6 }).filter((a) => a.length !== 4).map((p) => p.join('.')),
  fc.tuple(octet, octet, octet, fc.integer({ min: 0, max: 99 })).map(([a, b, c, d]) => `${a}.${b}.${c}.0${d}`),
  ipv4.map((s) => `${s}.`),
);
const hexGroup = fc.integer({ min: 0, max: 0xffff }).chain((n) => fc.constantFrom(n.toString(16), n.toString(16).toUpperCase(), n.toString(16).padStart(4, '0')));
const ipv6 = fc
  .tuple(fc.array(hexGroup, { minLength: 8, maxLength: 8 }), fc.nat({ max: 8 }), fc.nat({ max: 8 }), fc.boolean(), ipv4)
  .map(([groups, start, len, v4tail, v4]) => {
    const g = v4tail ? [...groups.slice(0, 6), v4] : groups;
    const from = Math.min(start, g.length);
    const to = Math.min(g.length, from + len);
    // Compress [from, to) with "::" when that range is not empty.
    return to > from ? `${g.slice(0, from).join(':')}::${g.slice(to).join(':')}` : g.join(':');
  });
const badIpv6 = fc.oneof(
  fc.array(hexGroup, { minLength: 9, maxLength: 9 }).map((g) => g.join(':')),
  fc.array(hexGroup, { minLength: 2, maxLength: 7 }).map((g) => g.join(':')),
  fc.tuple(hexGroup, hexGroup, hexGroup).map(([a, b, c]) => `${a}::${b}::${c}`),
  fc.tuple(hexGroup, hexGroup).map(([a, b]) => `${a}:12345:${b}::`),
  fc.tuple(hexGroup, hexGroup).map(([a, b]) => `${a}::g${b}`),
  fc.tuple(hexGroup, badIpv4).map(([a, v4]) => `${a}::${v4}`),
  fc.constantFrom(':::', '1:::2', ':1::2', '1::2:', '', '[::1]'),
);
const LDH = [...'abcxyzABCXYZ0123456789-'];
const dnsLabel = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(of([...'abcxyzAZ09'], 1, 1), of(LDH, 0, 10), of([...'abcxyzAZ09'], 1, 1)).map(([a, m, z]) => a + m + z) },
  { weight: 2, arbitrary: of([...'abcxyz0123456789'], 1, 3) },
  { weight: 1, arbitrary: fc.tuple(of([...'abz'], 1, 1), fc.integer({ min: 60, max: 65 })).map(([c, n]) => c.repeat(n)) },
  { weight: 1, arbitrary: fc.constantFrom('-a', 'a-', '-', 'a_b', '', 'é', 'xn--bcher-kva', 'a\u0000') },
);
const dnsName = fc.tuple(fc.array(dnsLabel, { minLength: 1, maxLength: 4 }), fc.boolean()).map(([labels, dot]) => labels.join('.') + (dot ? '.' : ''));
/** Names around the 253-character limit, with and without the root dot (which does not count). */
const longDnsName = fc.tuple(fc.integer({ min: 249, max: 256 }), fc.boolean()).map(([n, dot]) => {
  const labels: string[] = [];
  let left = n;
  while (left > 0) {
    const len = Math.min(63, left === 64 ? 62 : left);
    labels.push('a'.repeat(len));
    left -= len + 1;
  }
  return labels.join('.').slice(0, n) + (dot ? '.' : '');
});
const port = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 65535 }) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 70000 }) },
  { weight: 3, arbitrary: fc.constantFrom(0, 1, 65535, 65536, 99999) },
);
// At most two zero digits of padding: 254 + ":" + 7 stays within every sane length limit.
const portText = fc.oneof(
  { weight: 8, arbitrary: port.map(String) },
  { weight: 1, arbitrary: fc.tuple(port, fc.integer({ min: 1, max: 2 })).map(([p, z]) => '0'.repeat(z) + String(p)) },
  { weight: 1, arbitrary: fc.constantFrom('', 'http', '-1', '+80', ' 80', '80 ', '8o', '1e3', '0x50', '80.0', '٨٠') },
);
const goodPortText = fc.integer({ min: 1, max: 65535 }).map(String);
/** Mostly well-formed addresses, with every kind of host; the oracle still judges each. */
const likelyAddress = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(ipv4, goodPortText).map(([h, p]) => `${h}:${p}`) },
  { weight: 3, arbitrary: fc.tuple(dnsName, goodPortText).map(([h, p]) => `${h}:${p}`) },
  { weight: 1, arbitrary: fc.tuple(longDnsName, goodPortText).map(([h, p]) => `${h}:${p}`) },
  { weight: 2, arbitrary: fc.tuple(ipv6, goodPortText).map(([h, p]) => `[${h}]:${p}`) },
  { weight: 4, arbitrary: fc.tuple(fc.oneof(ipv4, dnsName, ipv6.map((h) => `[${h}]`)), portText).map(([h, p]) => `${h}:${p}`) },
);
const unlikelyAddress = fc.oneof(
  fc.tuple(fc.oneof(badIpv4, anyUnicode), portText).map(([h, p]) => `${h}:${p}`),
  fc.tuple(fc.oneof(badIpv6, ipv4, dnsName), portText).map(([h, p]) => `[${h}]:${p}`),
  fc.tuple(fc.oneof(ipv6, badIpv6), portText).map(([h, p]) => `${h}:${p}`),
  fc.oneof(ipv4, dnsName, ipv6.map((h) => `[${h}]`), ipv6.map((h) => `[${h}]:`)),
  anyUnicode,
  notAString,
);
/** Well-formed hosts with a port just outside 1..65535 or missing. */
const portOutOfRange = fc
  .tuple(fc.oneof(ipv4, dnsName, ipv6.map((h) => `[${h}]`)), fc.constantFrom('0', '00', '65536', '70000', '', '-1'))
  .map(([h, p]) => `${h}:${p}`);
const addressArb = field(likelyAddress, fc.oneof(unlikelyAddress, portOutOfRange));

const roleArb = field(fc.constantFrom('master', 'replica'), fc.oneof(fc.constantFrom('MASTER', 'Master', 'leader', 'slave', 'follower', '', ' master', 'replica\u0000'), anyUnicode, notAString));
const statusArb = field(fc.constantFrom('active', 'draining', 'inactive'), fc.oneof(fc.constantFrom('up', 'ACTIVE', 'drain', 'Inactive', '', 'active '), anyUnicode, notAString));
const epochArb = field(
  fc.oneof(fc.constantFrom(0, 1, 2 ** 53 - 1, 2 ** 31, 2 ** 32), fc.nat({ max: 1000 }), fc.maxSafeNat()),
  fc.oneof(
    fc.integer({ min: -1000, max: -1 }),
    fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }).filter((d) => !Number.isInteger(d)),
    fc.constantFrom(2 ** 53, 2 ** 53 + 2, 1e300, -(2 ** 53), 0.5, 1e-7),
    fc.constantFrom('3', '0', '', '1e3'),
    fc.constantFrom(null, true, [], {}),
  ),
);

// "__proto__" is just a label name: JSON.parse never sets a prototype.
const labelKey = fc
  .oneof(
    { weight: 1, arbitrary: fc.constant('__proto__') },
    { weight: 8, arbitrary: of([...'abcxyz/.-_:AZ09'], 1, 12) },
    { weight: 1, arbitrary: fc.oneof(of([...'kK'], 254, 258), fc.constant(''), spliced(of([...'abc'], 0, 5)), anyUnicode) },
    { weight: 1, arbitrary: fc.constantFrom('constructor', 'toString', 'hasOwnProperty', 'valueOf', '0', '15', 'app.kubernetes.io/name') },
  )
  .filter((k) => !k.includes('body'));
const labelValue = fc.oneof(
  { weight: 8, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 2, arbitrary: fc.oneof(of([...'vV'], 254, 258), of(['😀', 'é', 'x'], 250, 258)) },
  { weight: 1, arbitrary: fc.oneof(spliced(of([...'abc'], 0, 5)), anyUnicode) },
  { weight: 1, arbitrary: notAString },
);
const plainLabels = fc.array(fc.tuple(of([...'abcxyz/.-_:AZ09'], 1, 12), fc.string({ maxLength: 20 })), { maxLength: 5 }).map((e) => Object.fromEntries(e));
const labelsArb = field(
  plainLabels,
  fc.oneof(
    fc.array(fc.tuple(labelKey, labelValue), { maxLength: 6 }).map((e) => Object.fromEntries(e)),
    fc.integer({ min: 32, max: 34 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, `v${i}`]))),
    fc.constant(Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, `v${i}`]))),
    fc.constantFrom(null, [], 'rack=r1', 3, true, [['rack', 'r1']]),
  ),
);

/** Unknown fields: any name the contract does not define (no ".", ":" or "[" so messages stay unambiguous). */
const unknownKey = fc
  .oneof(fc.constantFrom('colour', 'Id', 'ID', 'host', 'port', 'ttl', 'epoch ', 'labels2', '', ' ', '\u0000', 'é'), fc.string({ unit: 'binary', maxLength: 8 }))
  .filter((k) => !(KNOWN_FIELDS as readonly string[]).includes(k) && !/[.:[]/.test(k) && !k.includes('body') && k !== 'constructor');
const unknownValue = fc.jsonValue({ maxDepth: 2 }).filter((v) => !/"(__proto__|constructor)"/.test(JSON.stringify(v)));

const FIELDS: Record<(typeof KNOWN_FIELDS)[number], Field> = {
  id: idArb,
  address: addressArb,
  database: nameArb(['default', 'db1']),
  shard: nameArb(['shard0', 'shard1']),
  role: roleArb,
  status: statusArb,
  dc: nameArb(['dc1', 'in-hyderabad-1']),
  epoch: epochArb,
  labels: labelsArb,
};
const REQUIRED = new Set(['address', 'database', 'shard', 'role']);

const unknownFields = fc.oneof(
  { weight: 8, arbitrary: fc.constant([] as Array<[string, unknown]>) },
  { weight: 1, arbitrary: fc.array(fc.tuple(unknownKey, unknownValue), { minLength: 1, maxLength: 2 }) },
);

function toPayload(fields: Record<string, unknown>, extra: Array<[string, unknown]>): string {
  const body: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) if (v !== ABSENT) body[k] = v;
  for (const [k, v] of extra) body[k] = v;
  return JSON.stringify(body);
}

/** Every field mixed: present or absent, valid or not, plus now and then unknown fields. */
const mixedBody = fc
  .tuple(
    fc.record(
      Object.fromEntries(
        KNOWN_FIELDS.map((f) => [f, fc.option(mixed(FIELDS[f]), { nil: ABSENT as Maybe<unknown>, freq: REQUIRED.has(f) ? 40 : 3 })]),
      ) as Record<string, fc.Arbitrary<unknown>>,
    ),
    unknownFields,
  )
  .map(([fields, extra]) => toPayload(fields, extra));

/** A valid body but for one field: invalid, or absent when required (the most telling failures). */
const singleFaultBody = fc.constantFrom(...KNOWN_FIELDS).chain((bad) =>
  fc
    .record(
      Object.fromEntries(
        KNOWN_FIELDS.map((f) => [
          f,
          f === bad
            ? REQUIRED.has(f)
              ? fc.option(FIELDS[f].invalid, { nil: ABSENT as Maybe<unknown>, freq: 6 })
              : FIELDS[f].invalid
            : REQUIRED.has(f)
              ? FIELDS[f].valid
              : fc.option(FIELDS[f].valid, { nil: ABSENT as Maybe<unknown>, freq: 2 }),
        ]),
      ) as Record<string, fc.Arbitrary<unknown>>,
    )
    .map((fields) => toPayload(fields, [])),
);

/** An otherwise valid body padded by an unknown field to within a few bytes of the limit. */
const nearLimitBody = fc.integer({ min: -4, max: 4 }).map((delta) => {
  const base = JSON.stringify({ address: '10.0.0.1:9000', database: 'default', shard: 'shard0', role: 'replica', pad: '' });
  return base.replace('"pad":""', `"pad":"${'x'.repeat(MAX_BODY_BYTES + delta - base.length)}"`);
});

const nonObjectBody = fc.oneof(
  fc.constantFrom('null', '[]', '""', '0', 'true', '"{}"', '', ' ', '{', '{"id": ', 'nul', '{"address":}', "{'role':'master'}", '[{"address":"10.0.0.1:1"}]'),
  fc.jsonValue({ maxDepth: 1 }).filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)).map((v) => JSON.stringify(v)),
  anyUnicode,
);

/**
 * Epochs JSON.stringify never writes: a valid body with `"epoch":<literal>` spliced in first
 * (so an epoch the body already has comes later and wins, as in JSON.parse).
 */
const epochLiteral = fc.oneof(
  fc.constantFrom('1e-400', `0.${'0'.repeat(400)}1`, '1e300', '1.0', '3e0', '1E2', '-0', '0.0', '0e0', '7.00'),
  fc.constantFrom('9007199254740991', '9007199254740992', '9007199254740993', '9007199254740991.4', '12345678901234567890'),
  fc.nat({ max: 1000 }).map(String),
);
const rawEpochBody = fc.tuple(singleFaultBody, mixedBody, epochLiteral, fc.boolean()).map(([faulty, mixedPayload, literal, useMixed]) => {
  const base = useMixed ? mixedPayload : faulty;
  return base.startsWith('{}') ? `{"epoch":${literal}}` : base.replace(/^\{/, `{"epoch":${literal},`);
});

const payloadArb = fc.oneof(
  { weight: 20, arbitrary: mixedBody },
  { weight: 10, arbitrary: singleFaultBody },
  { weight: 4, arbitrary: rawEpochBody },
  { weight: 2, arbitrary: nonObjectBody },
  { weight: 1, arbitrary: nearLimitBody },
);

// ---------------------------------------------------------------------------------------------
// The properties

/** A node id as a path segment: ":" and "@" may stay as they are (RFC 3986 pchar). */
const segment = (id: string) => encodeURIComponent(id).replace(/%3A/g, ':').replace(/%40/g, '@');
/**
 * Whether GET /v1/nodes/:id can name the node. Ids "." and ".." are valid, but a WHATWG URL (as
 * inject, fetch and browsers parse it) resolves them, even escaped, so they are read via the
 * registry only.
 */
const addressable = (id: string) => id !== '.' && id !== '..' && segment(id).length <= 256;

async function post(t: TestApp, payload: string) {
  return t.app.inject({ method: 'POST', url: '/v1/heartbeat', headers: { 'content-type': 'application/json' }, payload });
}

describe('POST /v1/heartbeat against the contract (property)', () => {
  let t: TestApp;
  const tally = { ok: 0, bad: 0, tooLarge: 0 };

  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(() => t.app.close());

  it('answers 200 exactly for the bodies the contract allows, stores them exactly, and changes nothing otherwise', async () => {
    await fc.assert(
      fc.asyncProperty(payloadArb, fc.integer({ min: 0, max: 5_000 }), async (payload, advanceMs) => {
        // Keep the registry small so that the byte-for-byte comparison stays cheap.
        if (t.registry.list().length > 40) {
          for (const node of [...t.registry.list()]) t.registry.forget(node.id);
        }
        t.clock.advance(advanceMs);
        const verdict = judge(payload);
        const before = t.registry.list();
        const beforeJson = JSON.stringify(before);
        const response = await post(t, payload);

        if (verdict.status === 200) {
          tally.ok++;
          expect(response.statusCode, response.body).toBe(200);
          expect(response.json()).toStrictEqual({ leaseSeconds: LEASE_SECONDS, advertised: {} });
          const want = verdict.node;
          const now = t.clock.now();
          // A node is first seen by its first heartbeat; later ones keep that time.
          const first = before.find((n) => n.id === want.id)?.firstSeenMs ?? now;

          // Through the API: exactly the contract's fields (dc null when absent) and the two times.
          if (addressable(want.id)) {
            const got = await t.app.inject({ method: 'GET', url: `/v1/nodes/${segment(want.id)}` });
            expect(got.statusCode, got.body).toBe(200);
            const { dc, ...rest } = got.json() as Record<string, unknown>;
            expect(dc ?? undefined).toBe(want.dc);
            expect(rest).toStrictEqual({
              id: want.id,
              address: want.address,
              database: want.database,
              shard: want.shard,
              role: want.role,
              status: want.status,
              epoch: want.epoch,
              labels: want.labels,
              firstSeen: new Date(first).toISOString(),
              lastHeartbeat: new Date(now).toISOString(),
              // A heartbeat never puts a node in maintenance: only an operator does.
              maintenance: null,
            });
          }
          // In the registry: the same, and the node's host and port are those of its address.
          const stored = t.registry.get(want.id);
          expect(stored).toBeDefined();
          expect({ ...stored, host: undefined, port: undefined, firstSeenMs: undefined, lastHeartbeatMs: undefined }).toEqual({ ...want, labels: { ...want.labels } });
          expect(stored!.port).toBe(Number(want.address.slice(want.address.lastIndexOf(':') + 1)));
          expect(want.address.startsWith('[') ? `[${stored!.host}]` : stored!.host).toBe(want.address.slice(0, want.address.lastIndexOf(':')));
          // Every other node is untouched.
          expect(JSON.stringify(t.registry.list().filter((n) => n.id !== want.id))).toBe(JSON.stringify(before.filter((n) => n.id !== want.id)));
          return;
        }

        if (verdict.status === 413) tally.tooLarge++;
        else tally.bad++;
        expect(response.statusCode, `${response.body}\nfor ${payload.slice(0, 400)}`).toBe(verdict.status);
        const error = response.json() as Record<string, unknown>;
        expect(Object.keys(error).sort()).toEqual(['error', 'message', 'statusCode']);
        expect(error.statusCode).toBe(verdict.status);
        expect(error.error).toBe(verdict.status === 413 ? 'Payload Too Large' : 'Bad Request');
        const message = String(error.message);
        expect(message).toMatch(/body[.:]/);
        if (verdict.blame === 'body') {
          expect(message.startsWith('body')).toBe(true);
        } else {
          const blamed = [...verdict.blame];
          expect(blamed.some((f) => message.includes(`body.${f}`)), `message "${message}" names none of ${JSON.stringify(blamed)}`).toBe(true);
          // No field the oracle finds good is blamed.
          const body = JSON.parse(payload) as Record<string, unknown>;
          for (const f of KNOWN_FIELDS) {
            if (verdict.blame.has(f) || !(f in body)) continue;
            for (const path of [`body.${f}:`, `body.${f}.`, `body.${f}[`]) expect(message, `good field ${f} blamed`).not.toContain(path);
          }
        }
        expect(JSON.stringify(t.registry.list())).toBe(beforeJson);
      }),
      { numRuns: 500 },
    );
    // The generators must exercise both outcomes, or the property says little.
    console.log(`heartbeat property: ${JSON.stringify(tally)}`);
    expect(tally.ok).toBeGreaterThan(50);
    expect(tally.bad).toBeGreaterThan(100);
  });

  it('checks a body outside a request (the state file) exactly as the route does', async () => {
    await fc.assert(
      fc.asyncProperty(payloadArb, async (payload) => {
        let body: unknown;
        try {
          body = JSON.parse(payload);
        } catch {
          return;
        }
        if (typeof body !== 'object' || body === null || Buffer.byteLength(payload) > MAX_BODY_BYTES) return;
        const response = await post(t, payload);
        const checked = checkHeartbeatBody(body, 'body');
        if (checked.ok) {
          // Only what JSON.parse loses, the epoch as written, can still fail over HTTP.
          if (response.statusCode !== 200) expect(response.json().message).toMatch(/^body\.epoch: must be written as an integer/);
        } else {
          expect(response.statusCode).toBe(400);
          const message = String(response.json().message);
          // The same words, and over HTTP perhaps the epoch as written after them.
          expect(message === checked.message || message.startsWith(`${checked.message}; body.epoch: must be written as an integer`), message).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  // -------------------------------------------------------------------------------------------
  // Divergences the property above found (and that were fixed), pinned as plain cases.

  const LONG_ID = 'a'.repeat(101);

  it('GET /v1/nodes/:id reads a node whose id is 101..128 characters', async () => {
    const payload = JSON.stringify({ id: LONG_ID, address: '10.0.0.1:9000', database: 'default', shard: 'shard0', role: 'replica' });
    expect(judge(payload).status).toBe(200);
    expect((await post(t, payload)).statusCode).toBe(200);
    const got = await t.app.inject({ method: 'GET', url: `/v1/nodes/${LONG_ID}` });
    expect(got.statusCode, got.body).toBe(200);
  });

  it('DELETE /v1/nodes/:id forgets a node whose id is 101..128 characters', async () => {
    const payload = JSON.stringify({ id: LONG_ID, address: '10.0.0.1:9000', database: 'default', shard: 'shard0', role: 'replica' });
    expect((await post(t, payload)).statusCode).toBe(200);
    const deleted = await t.app.inject({ method: 'DELETE', url: `/v1/nodes/${LONG_ID}` });
    expect(deleted.statusCode, deleted.body).toBe(200);
  });

  it('every error is exactly {statusCode, error, message}, even the router\'s', async () => {
    // An id longer than any valid one: refusing it is fine, but in the contract's error shape.
    const got = await t.app.inject({ method: 'GET', url: `/v1/nodes/${'a'.repeat(200)}` });
    expect(got.statusCode).toBeGreaterThanOrEqual(400);
    expect(Object.keys(got.json()).sort()).toEqual(['error', 'message', 'statusCode']);
  });

  it('a 253-character DNS name written with its root dot is a DNS name', async () => {
    const name = `${['a'.repeat(63), 'a'.repeat(63), 'a'.repeat(63), 'a'.repeat(61)].join('.')}.`;
    const payload = JSON.stringify({ id: 'fqdn', address: `${name}:1`, database: 'default', shard: 'shard0', role: 'replica' });
    expect(judge(payload).status).toBe(200);
    expect((await post(t, payload)).statusCode).toBe(200);
  });

  it('an IPv6 host with a zone index ("%<zone>") is not an IPv6 address', async () => {
    // RFC 4291 text forms have no zone; a zone names an interface of the node's own host.
    for (const address of ['[fe80::1%eth0]:9000', '[::1%:80]:80']) {
      const payload = JSON.stringify({ id: 'zoned', address, database: 'default', shard: 'shard0', role: 'replica' });
      expect(judge(payload).status).toBe(400);
      expect((await post(t, payload)).statusCode).toBe(400);
    }
  });

  it('a label named "__proto__" is a string pair the contract allows', async () => {
    const payload = '{"address":"10.0.0.1:9000","database":"default","shard":"shard0","role":"replica","labels":{"__proto__":"x"}}';
    expect(judge(payload).status).toBe(200);
    expect((await post(t, payload)).statusCode).toBe(200);
  });

  it('an unknown "__proto__" field is refused with a message naming it', async () => {
    const payload = '{"address":"10.0.0.1:9000","database":"default","shard":"shard0","role":"replica","__proto__":{}}';
    const response = await post(t, payload);
    expect(response.statusCode).toBe(400);
    expect(response.json().message).toContain('body.__proto__');
  });
});
