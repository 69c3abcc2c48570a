/**
 * Request schemas: JSON Schema values (TypeBox) from which the handler types derive, so a rule is
 * written once. `description` carries the rule in words: error messages quote it.
 */
import { Type, type Static } from '@sinclair/typebox';

const NAME_RULE = '1..64 characters of [A-Za-z0-9._-]';
const Name = (what: string) => Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$', description: `${what}: ${NAME_RULE}` });
const NO_CONTROL_CHARS = '^[^\\u0000-\\u001f\\u007f]*$';

export const HeartbeatBody = Type.Object(
  {
    id: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._:@-]{1,128}$', description: 'id: 1..128 characters of [A-Za-z0-9._:@-]' })),
    address: Type.String({ maxLength: 262, description: 'address: host:port' }),
    database: Name('database'),
    shard: Name('shard'),
    role: Type.Unsafe<'master' | 'replica'>({ type: 'string', enum: ['master', 'replica'], description: 'role: master or replica' }),
    status: Type.Optional(
      Type.Unsafe<'active' | 'draining' | 'inactive'>({
        type: 'string',
        enum: ['active', 'draining', 'inactive'],
        description: 'status: active, draining or inactive',
      }),
    ),
    dc: Type.Optional(Name('dc')),
    epoch: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'epoch: an integer 0..2^53-1' })),
    labels: Type.Optional(
      Type.Unsafe<Record<string, string>>({
        type: 'object',
        maxProperties: 32,
        propertyNames: { minLength: 1, maxLength: 256, pattern: NO_CONTROL_CHARS, description: 'label names: 1..256 characters, no control characters' },
        additionalProperties: { type: 'string', maxLength: 256, pattern: NO_CONTROL_CHARS, description: 'label values: strings of at most 256 characters, no control characters' },
        description: 'labels: at most 32 string pairs',
      }),
    ),
  },
  { additionalProperties: false },
);
export type HeartbeatBody = Static<typeof HeartbeatBody>;

/**
 * The answer to a heartbeat (contract 4.1): the lease the node must renew within, and its address
 * in each group with nodeListeners where it holds a port. Extra fields are allowed, so an older
 * agent reads a newer server's answer.
 */
export const HeartbeatResponse = Type.Object({
  leaseSeconds: Type.Number({ exclusiveMinimum: 0, description: 'leaseSeconds: a number > 0' }),
  advertised: Type.Record(Type.String(), Type.String(), { description: 'advertised: {"<group>": "host:port"}' }),
});
export type HeartbeatResponse = Static<typeof HeartbeatResponse>;

export const ClustersQuery = Type.Object(
  {
    database: Type.Optional(Type.String()),
    shard: Type.Optional(Type.String()),
    group: Type.Optional(Type.String()),
    format: Type.Optional(Type.Unsafe<'json' | 'text'>({ type: 'string', enum: ['json', 'text'], description: 'format: json or text' })),
  },
  { additionalProperties: false },
);
export type ClustersQuery = Static<typeof ClustersQuery>;

export const NodeIdParams = Type.Object({ id: Type.String() });
export type NodeIdParams = Static<typeof NodeIdParams>;

export const AdvertisedQuery = Type.Object({ group: Type.String({ description: 'group: the name of a group with nodeListeners' }) }, { additionalProperties: false });
export type AdvertisedQuery = Static<typeof AdvertisedQuery>;
