/**
 * What each route answers, as JSON Schema (TypeBox): the source of the responses in
 * GET /openapi.json. Documentation only: app.ts serializes every reply with JSON.stringify, as
 * before these schemas existed, so a schema never strips a field or coerces a value. The test
 * suite checks every response it receives against the document (test/support/openapi-check.ts).
 *
 * Objects leave `additionalProperties` open, so a client generated from the document reads a
 * newer server's answer; the test check closes them, so a field the code adds without a schema
 * here fails the tests.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { ClusterView } from '../../topology/cluster-view.js';
import type { DkvClientConfig } from './client-config.js';
import { HeartbeatResponse } from './schemas.js';

function StringEnum<const T extends readonly string[]>(values: T, description?: string) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...(description ? { description } : {}) });
}
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const IsoTime = (description: string) => Type.String({ format: 'date-time', description });

/** Every error: `message` names the field and the reason (contract 4). */
export const ErrorReply = Type.Object(
  {
    statusCode: Type.Integer({ minimum: 400, maximum: 599 }),
    error: Type.String({ description: 'the status code\'s name, e.g. "Bad Request"' }),
    message: Type.String({ description: 'the field and the reason, e.g. "body.role: must be equal to one of the allowed values"' }),
  },
  { $id: 'Error', title: 'Error', description: 'An error: {statusCode, error, message}' },
);
export type ErrorReply = Static<typeof ErrorReply>;

const json = (schema: TSchema) => ({ 'application/json': { schema } });

/** A response in the `content` form, so a route can answer several media types. */
function response<S extends TSchema>(description: string, schema: S, headers?: Record<string, TSchema>) {
  return { description, content: json(schema), ...(headers ? { headers } : {}) } as { description: string; content: { 'application/json': { schema: S } } };
}

const errorRef = Type.Unsafe<ErrorReply>(Type.Ref('Error'));
const error = (description: string, headers?: Record<string, TSchema>) => response(description, errorRef, headers);

/** Text answers (YAML, Prometheus text, a table, an event stream): a string of that media type. */
export function textResponse(description: string, mediaTypes: readonly string[]) {
  return { description, content: Object.fromEntries(mediaTypes.map((type) => [type, { schema: Type.String() }])) } as {
    description: string;
    content: Record<string, { schema: ReturnType<typeof Type.String> }>;
  };
}

export const errors = {
  invalid: error('Invalid request: a field breaks a rule (the message names it), or the body is not JSON'),
  unauthorized: error('No valid Bearer token for this kind of endpoint (auth.*Token)', {
    'WWW-Authenticate': Type.String({ description: 'Bearer realm="shardvoy"' }),
  }),
  notFound: (what: string) => error(`Not found: ${what}`),
  following: error('Conflict: this instance follows other discovery servers (registry.remote) and stores nothing itself'),
  tooLarge: error('The body is over 64 KiB (decoded)'),
  mediaType: error('The content-type is not JSON, its charset is not utf-8, or its content-encoding is unknown'),
  registryFull: error('Too many requests: registry.maxNodes live nodes already; a new node is refused'),
  storeUnavailable: error('The registry store (etcd) is out of reach: nothing was stored; try again after Retry-After seconds', {
    'Retry-After': Type.Integer({ minimum: 0, description: 'seconds to wait before trying again' }),
  }),
  internal: error('Internal error'),
} as const;

/** The errors any route with a JSON body may answer before its handler runs. */
export const bodyErrors = { 400: errors.invalid, 413: errors.tooLarge, 415: errors.mediaType } as const;

// ---- nodes ----------------------------------------------------------------------------------

const Maintenance = Nullable(
  Type.Object({ reason: Type.String(), since: IsoTime('when it was put on (server clock)') }, { description: 'an operator\'s maintenance (sent to Envoy as DRAINING), else null' }),
);

export const NodeReply = Type.Object(
  {
    id: Type.String(),
    address: Type.String({ description: 'host:port' }),
    database: Type.String(),
    shard: Type.String(),
    role: StringEnum(['master', 'replica'] as const),
    status: StringEnum(['active', 'draining', 'inactive'] as const),
    dc: Nullable(Type.String()),
    epoch: Type.Integer({ minimum: 0 }),
    labels: Type.Record(Type.String(), Type.String()),
    dkv: Type.Optional(
      Type.Object(
        {
          regionStatus: StringEnum(['INACTIVE', 'LEADER', 'PRIMARY_FOLLOWER', 'SECONDARY_FOLLOWER', 'ACTIVE_SLAVE'] as const),
          timestamp: Type.String({ description: 'the DKV request\'s uint64 timestamp, in decimal' }),
          httpAddress: Type.String(),
          masterHost: Type.Optional(Type.String()),
          nexusClusterUrl: Type.Optional(Type.String()),
        },
        { description: 'what a DKV node last reported over UpdateStatus; absent for HTTP nodes' },
      ),
    ),
    expired: Type.Optional(Type.Boolean({ description: 'with registry.store: etcd, the elected judge\'s verdict' })),
    firstSeen: IsoTime('first heartbeat (server clock)'),
    lastHeartbeat: IsoTime('last heartbeat (server clock)'),
    maintenance: Maintenance,
  },
  { description: 'A node as the registry stores it' },
);

export const NodesReply = Type.Object({ nodes: Type.Array(NodeReply) });
export const ForgottenReply = Type.Object({ forgotten: NodeReply });
export const MaintenanceOnReply = Type.Object({ id: Type.String(), maintenance: Type.Object({ reason: Type.String(), since: IsoTime('when it was put on') }) });
export const MaintenanceOffReply = Type.Object({ id: Type.String(), maintenance: Type.Null(), wasInMaintenance: Type.Boolean() });

// ---- routing ---------------------------------------------------------------------------------

const Health = StringEnum(['healthy', 'draining', 'inactive', 'expired', 'fenced'] as const, 'healthy and draining endpoints reach Envoy');

/** Typed as cluster-view.ts builds it (readonly arrays); the schema is what it sends. */
export const ClustersReply = Type.Unsafe<{ version: string; clusters: readonly ClusterView[] }>(Type.Object({
  version: Type.String({ description: 'the version of the snapshots this view was computed from' }),
  clusters: Type.Array(
    Type.Object({
      name: Type.String(),
      database: Type.String(),
      shard: Type.String(),
      role: StringEnum(['master', 'replica'] as const),
      endpoints: Type.Array(
        Type.Object({
          id: Type.String(),
          address: Type.String(),
          dc: Nullable(Type.String()),
          status: StringEnum(['active', 'draining', 'inactive'] as const),
          epoch: Type.Integer({ minimum: 0 }),
          health: Health,
          routed: Type.Boolean({ description: 'sent to Envoy' }),
          preserved: Type.Boolean({ description: 'its lease ran out, but self-preservation keeps it routable' }),
          advertised: Type.Record(Type.String(), Nullable(Type.String()), { description: 'per group with nodeListeners: host:port, null while the range is full' }),
          lastHeartbeatAgeMs: Type.Number(),
          maintenance: Maintenance,
        }),
      ),
    }),
  ),
}));

export const AdvertisedReply = Type.Record(Type.String(), Type.String(), { description: '{"<node id>": "host:port"}' });

const DkvTopology = Type.Object({ name: Type.String(), nodes: Type.Array(Type.Object({ host: Type.String(), port: Type.Integer() })) });
/** Typed as client-config.ts builds it (readonly arrays); the schema is what it sends. */
export const ClientConfigReply = Type.Unsafe<DkvClientConfig>(
  Type.Object({
    dkvShards: Type.Array(Type.Object({ name: Type.String(), topology: Type.Object({ MASTER: Type.Optional(DkvTopology), SLAVE: Type.Optional(DkvTopology) }) })),
  }),
);

const TypeStatus = Type.Object({
  subscribed: Type.Union([Type.Literal('*'), Type.Array(Type.String())], { description: '"*" (wildcard) or the names subscribed to' }),
  configStatus: StringEnum(['SYNCED', 'NOT_SENT', 'STALE', 'ERROR'] as const, 'as CSDS'),
  lastSentVersion: Type.Optional(Type.String()),
  lastSentNonce: Type.Optional(Type.String()),
  lastSentAt: Type.Optional(IsoTime('when the last response was sent')),
  lastAckedVersion: Type.Optional(Type.String()),
  awaitingReplySince: Type.Optional(IsoTime('when the oldest response the client has not answered (ACK or NACK) was sent; absent once it answered the last')),
  lastNack: Type.Optional(Type.Object({ version: Type.String(), message: Type.String(), at: IsoTime('when it was NACKed') })),
  nackRetries: Type.Integer({ minimum: 0, description: 'resends of a version NACKed for a cause on the client\'s host, since it last accepted one' }),
  nextRetryAt: Type.Optional(IsoTime('when the next resend is due')),
});

export const XdsClientsReply = Type.Object({
  clients: Type.Array(
    Type.Object({
      streamId: Type.Integer(),
      protocol: StringEnum(['sotw', 'delta'] as const),
      nodeId: Type.Optional(Type.String()),
      group: Type.Optional(Type.String()),
      peer: Type.String(),
      connectedSince: IsoTime('when the stream opened'),
      types: Type.Record(Type.String(), TypeStatus, { description: 'per resource type (cds, eds, lds, rds)' }),
    }),
  ),
});

export const ResumeExpiryReply = Type.Object({ resumed: Type.Literal(true), wasPreserving: Type.Boolean() });

// ---- operators -------------------------------------------------------------------------------

export const EventReply = Type.Object({
  id: Type.Integer({ minimum: 1 }),
  time: IsoTime('server clock'),
  type: StringEnum(['Normal', 'Warning'] as const),
  reason: Type.String({ description: 'NodeRegistered, NodeExpired, MasterChanged, … (README, Operators)' }),
  regarding: Type.Object({ kind: StringEnum(['Node', 'Shard', 'XdsClient', 'Registry', 'Instance'] as const), name: Type.String() }),
  message: Type.String(),
});
export const EventsReply = Type.Object({ latestId: Type.Integer({ minimum: 0 }), events: Type.Array(EventReply) });

export const HealthReply = Type.Object({ status: Type.Literal('ok') });
export const ReadyReply = Type.Object({ status: Type.Literal('ready') });

export { HeartbeatResponse };

/** The `response` of a route's schema: the 2xx and the errors, each with its description. */
export { response };
