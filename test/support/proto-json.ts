/**
 * proto3-JSON (what Envoy reads from a YAML or JSON bootstrap) -> a protobufjs message.
 *
 * protobufjs' `fromObject` takes its own object form and silently drops what it does not know,
 * so a misspelt field in a bootstrap would pass unnoticed. Envoy refuses unknown fields, and so
 * does this: every problem throws a {@link ProtoJsonError} naming the path of the offending value.
 *
 * Supported JSON forms (https://protobuf.dev/programming-guides/json/):
 *  - field names as written in the .proto (`connect_timeout`) or in lowerCamelCase (`connectTimeout`);
 *  - enums by name or number; 64-bit integers as numbers or decimal strings; bytes as base64;
 *    floats also as "NaN", "Infinity", "-Infinity"; `null` as "not set";
 *  - google.protobuf.Duration as "1.5s", Timestamp as RFC 3339, FieldMask as "a.b,cD";
 *  - wrapper types (UInt32Value, BoolValue, ...) as bare values;
 *  - Struct, Value and ListValue as arbitrary JSON;
 *  - Any as `{"@type": "type.googleapis.com/<message>", ...fields}` (well-known types inside an
 *    Any as `{"@type": ..., "value": <their JSON form>}`), packed recursively.
 *
 * It also refuses two members of one oneof set at once, as protobuf's JSON parser does, and with
 * `rejectDeprecated` any deprecated field or enum value (Envoy only warns about those).
 */
import protobuf from 'protobufjs';

export class ProtoJsonError extends Error {
  override readonly name = 'ProtoJsonError';
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path === '' ? '(root)' : path}: ${reason}`);
  }
}

export interface ProtoJsonOptions {
  /** Throw on fields and enum values marked `deprecated` (Envoy accepts them with a warning). */
  readonly rejectDeprecated?: boolean;
}

/** Converts `json` (proto3-JSON for `type`) into a message of `type`; throws a ProtoJsonError on any problem. */
export function fromProtoJson(type: protobuf.Type, json: unknown, options: ProtoJsonOptions = {}): protobuf.Message {
  const converter = new Converter(type.root, options);
  return type.fromObject(converter.message(type, json, ''));
}

type Plain = Record<string, unknown>;

const WRAPPER_TYPES: Readonly<Record<string, string>> = {
  'google.protobuf.DoubleValue': 'double',
  'google.protobuf.FloatValue': 'float',
  'google.protobuf.Int64Value': 'int64',
  'google.protobuf.UInt64Value': 'uint64',
  'google.protobuf.Int32Value': 'int32',
  'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.BoolValue': 'bool',
  'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
};

/** Types whose JSON form is not an object of their fields; inside an Any they sit under "value". */
const SPECIAL_JSON = new Set([
  ...Object.keys(WRAPPER_TYPES),
  'google.protobuf.Duration',
  'google.protobuf.Timestamp',
  'google.protobuf.FieldMask',
  'google.protobuf.Struct',
  'google.protobuf.Value',
  'google.protobuf.ListValue',
  'google.protobuf.Any',
]);

const INT32_RANGE: Readonly<Record<string, readonly [number, number]>> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  sint32: [-(2 ** 31), 2 ** 31 - 1],
  sfixed32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  fixed32: [0, 2 ** 32 - 1],
};
const INT64_RANGE: Readonly<Record<string, readonly [bigint, bigint]>> = {
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
};

// Duration and Timestamp limits of duration.proto / timestamp.proto.
const MAX_DURATION_SECONDS = 315_576_000_000n;
const DURATION_RE = /^(-)?([0-9]+)(?:\.([0-9]{1,9}))?s$/;
const TIMESTAMP_RE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?(Z|[+-][0-9]{2}:[0-9]{2})$/;
const MIN_TIMESTAMP_SECONDS = -62_135_596_800; // 0001-01-01T00:00:00Z
const MAX_TIMESTAMP_SECONDS = 253_402_300_799; // 9999-12-31T23:59:59Z

function fullName(obj: protobuf.ReflectionObject): string {
  return obj.fullName.replace(/^\./, '');
}

function isObject(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

function lowerCamel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

function join(path: string, key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? (path === '' ? key : `${path}.${key}`) : `${path}[${JSON.stringify(key)}]`;
}

function isDeprecated(options: Record<string, unknown> | undefined): boolean {
  return options?.['deprecated'] === true;
}

class Converter {
  private readonly fieldIndex = new Map<protobuf.Type, Map<string, protobuf.Field>>();

  constructor(
    private readonly root: protobuf.Root,
    private readonly options: ProtoJsonOptions,
  ) {}

  /** A message value in protobufjs `fromObject` form. */
  message(type: protobuf.Type, json: unknown, path: string): Plain {
    const name = fullName(type);
    switch (name) {
      case 'google.protobuf.Any':
        return this.any(json, path);
      case 'google.protobuf.Duration':
        return this.duration(json, path);
      case 'google.protobuf.Timestamp':
        return this.timestamp(json, path);
      case 'google.protobuf.FieldMask':
        return this.fieldMask(json, path);
      case 'google.protobuf.Struct':
        return this.struct(json, path);
      case 'google.protobuf.Value':
        return this.value(json, path);
      case 'google.protobuf.ListValue':
        return this.listValue(json, path);
    }
    const wrapped = WRAPPER_TYPES[name];
    if (wrapped !== undefined) return { value: this.scalar(wrapped, json, path) };

    if (!isObject(json)) throw new ProtoJsonError(path, `must be an object (${name}), got ${describe(json)}`);
    const out: Plain = {};
    const seen = new Map<protobuf.Field, string>();
    for (const [key, value] of Object.entries(json)) {
      const at = join(path, key);
      const field = this.fieldOf(type, key);
      if (!field) {
        const known = type.fieldsArray.map((f) => f.name).join(', ');
        throw new ProtoJsonError(at, `unknown field of ${name}; its fields are: ${known}`);
      }
      const earlier = seen.get(field);
      if (earlier !== undefined) throw new ProtoJsonError(at, `the same field as "${earlier}" given twice`);
      seen.set(field, key);
      // null means "not set", except for google.protobuf.Value, where it is the JSON null.
      const isValue = field.resolvedType instanceof protobuf.Type && fullName(field.resolvedType) === 'google.protobuf.Value';
      if (value === null && !(isValue && !field.repeated && !field.map)) continue;
      if (this.options.rejectDeprecated && isDeprecated(field.options)) {
        throw new ProtoJsonError(at, `field ${name}.${field.name} is deprecated`);
      }
      out[field.name] = this.fieldValue(field, value, at);
    }
    for (const oneof of type.oneofsArray) {
      const set = oneof.fieldsArray.filter((f) => Object.prototype.hasOwnProperty.call(out, f.name));
      if (set.length > 1) {
        throw new ProtoJsonError(path, `${set.map((f) => f.name).join(' and ')} are members of the oneof "${oneof.name}": set only one`);
      }
    }
    return out;
  }

  private fieldOf(type: protobuf.Type, key: string): protobuf.Field | undefined {
    let index = this.fieldIndex.get(type);
    if (!index) {
      index = new Map();
      for (const field of type.fieldsArray) {
        index.set(field.name, field);
        index.set(lowerCamel(field.name), field);
        const jsonName = field.options?.['json_name'];
        if (typeof jsonName === 'string') index.set(jsonName, field);
      }
      this.fieldIndex.set(type, index);
    }
    return index.get(key);
  }

  private fieldValue(field: protobuf.Field, value: unknown, path: string): unknown {
    field.resolve();
    if (field.map) {
      const mapField = field as unknown as protobuf.MapField;
      if (!isObject(value)) throw new ProtoJsonError(path, `must be an object (a map), got ${describe(value)}`);
      const out: Plain = {};
      for (const [key, item] of Object.entries(value)) {
        const at = `${path}[${JSON.stringify(key)}]`;
        this.mapKey(mapField.keyType, key, at);
        if (item === null) throw new ProtoJsonError(at, 'map values cannot be null');
        out[key] = this.single(field, item, at);
      }
      return out;
    }
    if (field.repeated) {
      if (!Array.isArray(value)) throw new ProtoJsonError(path, `must be a list, got ${describe(value)}`);
      return value.map((item, i) => {
        if (item === null) throw new ProtoJsonError(`${path}[${i}]`, 'list elements cannot be null');
        return this.single(field, item, `${path}[${i}]`);
      });
    }
    return this.single(field, value, path);
  }

  /** One value of a field (a map value, a list element or a singular field). */
  private single(field: protobuf.Field, value: unknown, path: string): unknown {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) return this.message(resolved, value, path);
    if (resolved instanceof protobuf.Enum) return this.enumValue(resolved, value, path);
    return this.scalar(field.type, value, path);
  }

  private mapKey(keyType: string, key: string, path: string): void {
    if (keyType === 'string') return;
    if (keyType === 'bool') {
      if (key !== 'true' && key !== 'false') throw new ProtoJsonError(path, 'map key must be "true" or "false"');
      return;
    }
    this.scalar(keyType, key, path);
  }

  private enumValue(type: protobuf.Enum, value: unknown, path: string): string | number {
    const name = fullName(type);
    if (typeof value === 'number') {
      if (!Number.isInteger(value)) throw new ProtoJsonError(path, `must be a ${name} name or integer, got ${value}`);
      return value; // open enums: unknown numbers are kept, as protobuf does
    }
    if (typeof value !== 'string') throw new ProtoJsonError(path, `must be a ${name} name, got ${describe(value)}`);
    if (!Object.prototype.hasOwnProperty.call(type.values, value)) {
      throw new ProtoJsonError(path, `"${value}" is not a value of ${name}; its values are: ${Object.keys(type.values).join(', ')}`);
    }
    const valueOptions = (type as unknown as { valuesOptions?: Record<string, Record<string, unknown>> }).valuesOptions;
    if (this.options.rejectDeprecated && isDeprecated(valueOptions?.[value])) {
      throw new ProtoJsonError(path, `${name}.${value} is deprecated`);
    }
    return value;
  }

  private scalar(kind: string, value: unknown, path: string): unknown {
    switch (kind) {
      case 'string':
        if (typeof value !== 'string') throw new ProtoJsonError(path, `must be a string, got ${describe(value)}`);
        return value;
      case 'bool':
        if (typeof value !== 'boolean') throw new ProtoJsonError(path, `must be true or false, got ${describe(value)}`);
        return value;
      case 'bytes': {
        if (typeof value !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) {
          throw new ProtoJsonError(path, `must be base64 text, got ${describe(value)}`);
        }
        return new Uint8Array(Buffer.from(value, 'base64'));
      }
      case 'double':
      case 'float': {
        if (typeof value === 'number') return value;
        if (value === 'NaN') return NaN;
        if (value === 'Infinity') return Infinity;
        if (value === '-Infinity') return -Infinity;
        if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
        throw new ProtoJsonError(path, `must be a number, got ${describe(value)}`);
      }
    }
    const range32 = INT32_RANGE[kind];
    if (range32) {
      const n = typeof value === 'string' && /^-?[0-9]+$/.test(value) ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isInteger(n)) throw new ProtoJsonError(path, `must be an integer (${kind}), got ${describe(value)}`);
      if (n < range32[0] || n > range32[1]) throw new ProtoJsonError(path, `${n} is out of range for ${kind}`);
      return n;
    }
    const range64 = INT64_RANGE[kind];
    if (range64) {
      let n: bigint;
      if (typeof value === 'number' && Number.isSafeInteger(value)) n = BigInt(value);
      else if (typeof value === 'string' && /^-?[0-9]+$/.test(value)) n = BigInt(value);
      else throw new ProtoJsonError(path, `must be an integer (${kind}, as a number or a decimal string), got ${describe(value)}`);
      if (n < range64[0] || n > range64[1]) throw new ProtoJsonError(path, `${n} is out of range for ${kind}`);
      return n.toString(); // protobufjs turns decimal strings into Longs
    }
    throw new ProtoJsonError(path, `unsupported field type ${kind}`);
  }

  private any(json: unknown, path: string): Plain {
    if (!isObject(json)) throw new ProtoJsonError(path, `must be an object with "@type" (google.protobuf.Any), got ${describe(json)}`);
    const typeUrl = json['@type'];
    if (typeof typeUrl !== 'string' || !typeUrl.includes('/')) {
      throw new ProtoJsonError(join(path, '@type'), `an Any needs "@type": "type.googleapis.com/<message name>", got ${describe(typeUrl)}`);
    }
    const messageName = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
    const found = messageName === '' ? null : this.root.lookup(messageName);
    // protobufjs falls back to a search by simple name; an Any must name the full message.
    if (!(found instanceof protobuf.Type) || fullName(found) !== messageName) {
      throw new ProtoJsonError(join(path, '@type'), `unknown message type "${messageName}"`);
    }
    const at = `${path}<${messageName.slice(messageName.lastIndexOf('.') + 1)}>`;
    const { '@type': _type, ...rest } = json;
    let inner: Plain;
    if (SPECIAL_JSON.has(messageName)) {
      const extra = Object.keys(rest).filter((k) => k !== 'value');
      if (extra.length > 0) throw new ProtoJsonError(join(at, extra[0]!), `unknown field: an Any holding ${messageName} takes only "value"`);
      if (!('value' in rest)) throw new ProtoJsonError(join(at, 'value'), `is required for an Any holding ${messageName}`);
      inner = this.message(found, rest['value'], join(at, 'value'));
    } else {
      inner = this.message(found, rest, at);
    }
    return { type_url: typeUrl, value: found.encode(found.fromObject(inner)).finish() };
  }

  private duration(json: unknown, path: string): Plain {
    const match = typeof json === 'string' ? DURATION_RE.exec(json) : null;
    if (!match) throw new ProtoJsonError(path, `must be a duration string such as "1s" or "0.250s", got ${describe(json)}`);
    const seconds = BigInt(match[2]!);
    if (seconds > MAX_DURATION_SECONDS) throw new ProtoJsonError(path, `${String(json)} is beyond the range of google.protobuf.Duration`);
    const nanos = Number((match[3] ?? '').padEnd(9, '0'));
    const sign = match[1] === '-' ? -1 : 1;
    return { seconds: (BigInt(sign) * seconds).toString(), nanos: sign * nanos };
  }

  private timestamp(json: unknown, path: string): Plain {
    const match = typeof json === 'string' ? TIMESTAMP_RE.exec(json) : null;
    const whole = match ? Date.parse(`${json as string}`.replace(/\.[0-9]+/, '')) : NaN;
    if (!match || Number.isNaN(whole)) throw new ProtoJsonError(path, `must be an RFC 3339 timestamp such as "2024-01-31T12:00:00Z", got ${describe(json)}`);
    const seconds = Math.floor(whole / 1000);
    if (seconds < MIN_TIMESTAMP_SECONDS || seconds > MAX_TIMESTAMP_SECONDS) throw new ProtoJsonError(path, 'is outside years 0001..9999');
    return { seconds: String(seconds), nanos: Number((match[7] ?? '').padEnd(9, '0')) };
  }

  private fieldMask(json: unknown, path: string): Plain {
    if (typeof json !== 'string') throw new ProtoJsonError(path, `must be a comma-separated string of field paths, got ${describe(json)}`);
    const paths = json === '' ? [] : json.split(',');
    return { paths: paths.map((p) => p.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)) };
  }

  private struct(json: unknown, path: string): Plain {
    if (!isObject(json)) throw new ProtoJsonError(path, `must be an object (google.protobuf.Struct), got ${describe(json)}`);
    const fields: Plain = {};
    for (const [key, value] of Object.entries(json)) fields[key] = this.value(value, join(path, key));
    return { fields };
  }

  private value(json: unknown, path: string): Plain {
    const member = (name: string, value: unknown): Plain => ({ [this.valueMember(name)]: value });
    if (json === null) return member('null_value', 'NULL_VALUE');
    if (typeof json === 'number') {
      if (!Number.isFinite(json)) throw new ProtoJsonError(path, 'a google.protobuf.Value number must be finite');
      return member('number_value', json);
    }
    if (typeof json === 'string') return member('string_value', json);
    if (typeof json === 'boolean') return member('bool_value', json);
    if (Array.isArray(json)) return member('list_value', this.listValue(json, path));
    if (isObject(json)) return member('struct_value', this.struct(json, path));
    throw new ProtoJsonError(path, `is not a JSON value: ${describe(json)}`);
  }

  /**
   * The name protobufjs gave a google.protobuf.Value field: its built-in struct.proto (used in
   * place of the file) spells them in camelCase even when the root was loaded with keepCase.
   */
  private valueMember(snake: string): string {
    const value = this.root.lookupType('google.protobuf.Value');
    return value.fields[snake] ? snake : lowerCamel(snake);
  }

  private listValue(json: unknown, path: string): Plain {
    if (!Array.isArray(json)) throw new ProtoJsonError(path, `must be a list (google.protobuf.ListValue), got ${describe(json)}`);
    return { values: json.map((item, i) => this.value(item, `${path}[${i}]`)) };
  }
}
