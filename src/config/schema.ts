/**
 * Schema of the native dialect file (contract section 3.1). It checks shape and types only;
 * cross-field rules (listen addresses, duplicates, cluster names, collisions) live in load.ts
 * because they need key paths that JSON Schema cannot express.
 *
 * `reason` is a custom annotation (registered with ajv in load.ts): the user-facing explanation
 * used instead of ajv's generic text when a pattern/length/range rule fails.
 */
import { Type, type Static } from '@sinclair/typebox';
import { RegistryStoreSchema } from './etcd.js';
import type { ShardProtocol } from './types.js';

export const DEFAULT_HTTP_LISTEN = '0.0.0.0:8082';
export const DEFAULT_GRPC_LISTEN = '0.0.0.0:7979';
export const DEFAULT_LEASE_SECONDS = 10;
export const DEFAULT_EXPIRED_RETENTION_SECONDS = 300;
export const DEFAULT_DEBOUNCE_MS = 10;
export const DEFAULT_MAX_DELAY_MS = 100;
export const DEFAULT_MAX_CONNECTION_AGE_SECONDS = 1800;
export const DEFAULT_MAX_CONNECTION_AGE_GRACE_SECONDS = 60;
export const DEFAULT_STREAM_REQUESTS_PER_SECOND = 50;
export const DEFAULT_STREAM_REQUEST_BURST = 200;
export const DEFAULT_FENCED_CONNECTION_CLOSE_SECONDS = 1;
export const DEFAULT_NACK_RETRY_MAX_SECONDS = 300;
/** Contract 15: how many operator events the ring keeps. */
export const DEFAULT_EVENTS_RETAIN = 10_000;
/** Issue 11: what one client may make the xDS server hold. */
export const DEFAULT_XDS_MAX_REQUEST_BYTES = 1024 * 1024;
export const DEFAULT_XDS_MAX_NODE_BYTES = 256 * 1024;
export const DEFAULT_XDS_MAX_NODE_STRING_LENGTH = 8 * 1024;
export const DEFAULT_XDS_MAX_RESOURCE_NAME_LENGTH = 512;
export const DEFAULT_XDS_MAX_SUBSCRIBED_NAMES = 10_000;
export const DEFAULT_XDS_MAX_STREAMS_PER_PEER = 100;
export const DEFAULT_XDS_MAX_REFUSED_STREAMS_PER_CONNECTION = 10;
/** Envoy opens one stream per xDS type at most on its connection; gRPC's xDS clients one or two. */
export const DEFAULT_XDS_MAX_STREAMS_PER_CONNECTION = 32;
export const DEFAULT_XDS_MAX_STREAMS = 10_000;
export const DEFAULT_XDS_WRITE_TIMEOUT_SECONDS = 30;
export const DEFAULT_DATABASE = 'default';
export const DEFAULT_PORT_REUSE_SECONDS = 86_400;
export const DEFAULT_NODE_LISTEN_HOST = '0.0.0.0';

/** Group, shard, database and DC names: the same charset the heartbeat API accepts (contract 4.1). */
export const NAME_PATTERN = '^[A-Za-z0-9._-]{1,64}$';
export const NAME_REASON = 'must be 1 to 64 characters of letters, digits, ".", "_" or "-"';

const Name = Type.String({ pattern: NAME_PATTERN, reason: NAME_REASON });

const Listen = (defaultValue?: string) =>
  Type.String(defaultValue === undefined ? {} : { default: defaultValue });

export const ShardSchema = Type.Object(
  {
    name: Name,
    /** Required unless the group is proxyless; checked in load.ts since it depends on the group. */
    listen: Type.Optional(Listen()),
    clusters: Type.Array(Type.String(), {
      minItems: 1,
      reason: 'must list at least one cluster, e.g. [shard0-masters, shard0-replicas]',
    }),
    // A plain enum (not a union of literals) so ajv reports one "must be one of" error.
    protocol: Type.Optional(Type.Unsafe<ShardProtocol>({ type: 'string', enum: ['tcp', 'http2'], default: 'tcp' })),
  },
  { additionalProperties: false },
);

export const GroupSchema = Type.Object(
  {
    name: Name,
    dc: Type.Optional(Name),
    database: Type.Optional(Type.String({ pattern: NAME_PATTERN, reason: NAME_REASON, default: DEFAULT_DATABASE })),
    proxyless: Type.Optional(Type.Boolean({ default: false })),
    // May be empty only for a group that reaches nodes through node or bootstrap listeners (load.ts).
    shards: Type.Optional(Type.Array(ShardSchema)),
    advertisedHost: Type.Optional(Type.String()),
    bootstrapListener: Type.Optional(Type.String()),
    nodeListeners: Type.Optional(
      Type.Object(
        {
          listenHost: Type.Optional(Type.String({ default: DEFAULT_NODE_LISTEN_HOST })),
          // "6001-6100", or a list of front ends; its shape is checked in load.ts for clearer errors.
          ports: Type.Unknown(),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

/** A file path to PEM: read at start, so a missing file is a configuration error naming its key. */
const Pem = Type.String({ minLength: 1, reason: 'must be the path of a PEM file' });

const TlsSchema = Type.Object(
  {
    cert: Pem,
    key: Pem,
    ca: Type.Optional(Pem),
    requireClientCert: Type.Optional(Type.Boolean({ default: false })),
  },
  { additionalProperties: false },
);

/** A secret: given inline, or (better) read from an environment variable or a file at start. */
const TokenSource = Type.Unsafe<string | { env: string } | { file: string }>({
  anyOf: [
    { type: 'string', minLength: 1 },
    { type: 'object', properties: { env: { type: 'string', minLength: 1 } }, required: ['env'], additionalProperties: false },
    { type: 'object', properties: { file: { type: 'string', minLength: 1 } }, required: ['file'], additionalProperties: false },
  ],
  reason: 'must be a token, {env: VARIABLE} or {file: PATH}',
});

export const DEFAULT_MAX_NODES = 100_000;
export const DEFAULT_POLL_INTERVAL_SECONDS = 5;
export const DEFAULT_MAX_EXPIRED_FRACTION = 0.5;
export const DEFAULT_SELF_PRESERVATION_MIN_NODES = 3;

export const ClusterSettingsSchema = Type.Object(
  {
    /** Go duration, e.g. "10s", "500ms", "1m30s"; parsed in load.ts. */
    connectTimeout: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export const NativeConfigSchema = Type.Object(
  {
    http: Type.Optional(Type.Object({ listen: Type.Optional(Listen(DEFAULT_HTTP_LISTEN)), tls: Type.Optional(TlsSchema) }, { additionalProperties: false })),
    grpc: Type.Optional(Type.Object({ listen: Type.Optional(Listen(DEFAULT_GRPC_LISTEN)), tls: Type.Optional(TlsSchema) }, { additionalProperties: false })),
    auth: Type.Optional(
      Type.Object(
        {
          heartbeatTokens: Type.Optional(Type.Array(TokenSource, { minItems: 1, reason: 'must list at least one token' })),
          adminToken: Type.Optional(TokenSource),
          readToken: Type.Optional(TokenSource),
        },
        { additionalProperties: false },
      ),
    ),
    registry: Type.Optional(
      Type.Object(
        {
          // Fractions allowed: tests and demos use sub-second leases.
          leaseSeconds: Type.Optional(
            Type.Number({ exclusiveMinimum: 0, default: DEFAULT_LEASE_SECONDS, reason: 'must be a number of seconds above 0' }),
          ),
          expiredRetentionSeconds: Type.Optional(
            Type.Number({ minimum: 0, default: DEFAULT_EXPIRED_RETENTION_SECONDS, reason: 'must be a number of seconds, 0 or more' }),
          ),
          portReuseSeconds: Type.Optional(
            Type.Number({ minimum: 0, default: DEFAULT_PORT_REUSE_SECONDS, reason: 'must be a number of seconds, 0 or more' }),
          ),
          ...RegistryStoreSchema,
          stateFile: Type.Optional(Type.String({ minLength: 1, reason: 'must be a file path' })),
          // Discovery servers to follow instead of the own registry: a list of host:port, or "local".
          remote: Type.Optional(
            Type.Unsafe<string | string[]>({
              anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
              reason: 'must be a list of host:port, or "local"',
            }),
          ),
          pollIntervalSeconds: Type.Optional(
            Type.Number({ exclusiveMinimum: 0, default: DEFAULT_POLL_INTERVAL_SECONDS, reason: 'must be a number of seconds above 0' }),
          ),
          warmupSeconds: Type.Optional(Type.Number({ minimum: 0, reason: 'must be a number of seconds, 0 or more' })),
          maxNodes: Type.Optional(Type.Integer({ minimum: 1, default: DEFAULT_MAX_NODES, reason: 'must be a whole number, 1 or more' })),
          selfPreservation: Type.Optional(
            Type.Object(
              {
                enabled: Type.Optional(Type.Boolean({ default: true })),
                maxExpiredFraction: Type.Optional(
                  Type.Number({ exclusiveMinimum: 0, maximum: 1, default: DEFAULT_MAX_EXPIRED_FRACTION, reason: 'must be a fraction above 0, at most 1' }),
                ),
                minNodes: Type.Optional(
                  Type.Integer({ minimum: 1, default: DEFAULT_SELF_PRESERVATION_MIN_NODES, reason: 'must be a whole number, 1 or more' }),
                ),
              },
              { additionalProperties: false },
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    xds: Type.Optional(
      Type.Object(
        {
          debounceMs: Type.Optional(
            Type.Number({ minimum: 0, default: DEFAULT_DEBOUNCE_MS, reason: 'must be a number of milliseconds, 0 or more' }),
          ),
          maxDelayMs: Type.Optional(
            Type.Number({ minimum: 0, default: DEFAULT_MAX_DELAY_MS, reason: 'must be a number of milliseconds, 0 or more' }),
          ),
          maxConnectionAgeSeconds: Type.Optional(
            Type.Number({ exclusiveMinimum: 0, default: DEFAULT_MAX_CONNECTION_AGE_SECONDS, reason: 'must be a number of seconds above 0' }),
          ),
          maxConnectionAgeGraceSeconds: Type.Optional(
            Type.Number({ minimum: 0, default: DEFAULT_MAX_CONNECTION_AGE_GRACE_SECONDS, reason: 'must be a number of seconds, 0 or more' }),
          ),
          streamRequestsPerSecond: Type.Optional(
            Type.Number({ exclusiveMinimum: 0, default: DEFAULT_STREAM_REQUESTS_PER_SECOND, reason: 'must be a number above 0' }),
          ),
          streamRequestBurst: Type.Optional(
            Type.Integer({ minimum: 1, default: DEFAULT_STREAM_REQUEST_BURST, reason: 'must be a whole number, 1 or more' }),
          ),
          fencedConnectionCloseSeconds: Type.Optional(
            Type.Number({ minimum: 0, default: DEFAULT_FENCED_CONNECTION_CLOSE_SECONDS, reason: 'must be a number of seconds, 0 or more' }),
          ),
          nackRetryMaxSeconds: Type.Optional(
            // The first retry comes after 1 s: a smaller cap would make it sooner.
            Type.Number({ minimum: 1, default: DEFAULT_NACK_RETRY_MAX_SECONDS, reason: 'must be a number of seconds, 1 or more' }),
          ),
          maxRequestBytes: Type.Optional(
            Type.Integer({ minimum: 1024, default: DEFAULT_XDS_MAX_REQUEST_BYTES, reason: 'must be a whole number of bytes, 1024 or more' }),
          ),
          maxNodeBytes: Type.Optional(
            Type.Integer({ minimum: 256, default: DEFAULT_XDS_MAX_NODE_BYTES, reason: 'must be a whole number of bytes, 256 or more' }),
          ),
          maxNodeStringLength: Type.Optional(
            Type.Integer({ minimum: 64, default: DEFAULT_XDS_MAX_NODE_STRING_LENGTH, reason: 'must be a whole number of characters, 64 or more' }),
          ),
          maxResourceNameLength: Type.Optional(
            Type.Integer({ minimum: 64, default: DEFAULT_XDS_MAX_RESOURCE_NAME_LENGTH, reason: 'must be a whole number of bytes, 64 or more' }),
          ),
          maxSubscribedNames: Type.Optional(
            Type.Integer({ minimum: 1, default: DEFAULT_XDS_MAX_SUBSCRIBED_NAMES, reason: 'must be a whole number, 1 or more' }),
          ),
          maxStreamsPerPeer: Type.Optional(
            Type.Integer({ minimum: 1, default: DEFAULT_XDS_MAX_STREAMS_PER_PEER, reason: 'must be a whole number, 1 or more' }),
          ),
          maxStreams: Type.Optional(Type.Integer({ minimum: 1, default: DEFAULT_XDS_MAX_STREAMS, reason: 'must be a whole number, 1 or more' })),
          maxStreamsPerConnection: Type.Optional(
            Type.Integer({ minimum: 1, default: DEFAULT_XDS_MAX_STREAMS_PER_CONNECTION, reason: 'must be a whole number, 1 or more' }),
          ),
          maxRefusedStreamsPerConnection: Type.Optional(
            Type.Integer({ minimum: 0, default: DEFAULT_XDS_MAX_REFUSED_STREAMS_PER_CONNECTION, reason: 'must be a whole number, 0 or more' }),
          ),
          writeTimeoutSeconds: Type.Optional(
            Type.Number({ exclusiveMinimum: 0, default: DEFAULT_XDS_WRITE_TIMEOUT_SECONDS, reason: 'must be a number of seconds above 0' }),
          ),
          // control_plane.identifier of every response: printable, no spaces (Envoy logs and stats show it).
          controlPlaneId: Type.Optional(Type.String({ pattern: '^[\\x21-\\x7e]{1,256}$', reason: 'must be 1..256 printable characters without spaces' })),
        },
        { additionalProperties: false },
      ),
    ),
    events: Type.Optional(
      Type.Object(
        { retain: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000, default: DEFAULT_EVENTS_RETAIN, reason: 'must be a whole number, 1..10000000' })) },
        { additionalProperties: false },
      ),
    ),
    groups: Type.Array(GroupSchema, { minItems: 1, reason: 'must list at least one group' }),
    clusters: Type.Optional(Type.Record(Type.String(), ClusterSettingsSchema)),
  },
  { additionalProperties: false },
);

/** A native dialect file as written (optional keys still optional). */
export type NativeConfigFile = Static<typeof NativeConfigSchema>;
export type NativeGroup = Static<typeof GroupSchema>;
export type NativeShard = Static<typeof ShardSchema>;
