/**
 * `registry.store` and `registry.etcd` (contract 14): where the registry lives. Kept apart from
 * load.ts so the loader does not grow with every store.
 */
import { Type } from '@sinclair/typebox';
import { parseHostPort } from '../util/host-port.js';
import type { PathSegment } from './errors.js';
import { readPem, resolveToken, type TokenSource } from './secrets.js';
import type { EtcdConfig } from './types.js';

type Fail = (segments: readonly PathSegment[], reason: string) => never;

export const DEFAULT_ETCD_PREFIX = '/shardvoy/';

const Pem = Type.String({ minLength: 1, reason: 'must be the path of a PEM file' });
const Secret = Type.Unsafe<TokenSource>({
  anyOf: [
    { type: 'string', minLength: 1 },
    { type: 'object', properties: { env: { type: 'string', minLength: 1 } }, required: ['env'], additionalProperties: false },
    { type: 'object', properties: { file: { type: 'string', minLength: 1 } }, required: ['file'], additionalProperties: false },
  ],
  reason: 'must be a password, {env: VARIABLE} or {file: PATH}',
});

export const RegistryStoreSchema = {
  // A plain enum, so ajv reports one "must be one of" error.
  store: Type.Optional(Type.Unsafe<'memory' | 'etcd'>({ type: 'string', enum: ['memory', 'etcd'] })),
  etcd: Type.Optional(
    Type.Object(
      {
        endpoints: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, reason: 'must list at least one host:port' }),
        prefix: Type.Optional(Type.String({ minLength: 1, pattern: '^/.*/$', reason: 'must start and end with "/"' })),
        tls: Type.Optional(Type.Object({ cert: Type.Optional(Pem), key: Type.Optional(Pem), ca: Type.Optional(Pem) }, { additionalProperties: false })),
        auth: Type.Optional(Type.Object({ username: Type.String({ minLength: 1 }), password: Secret }, { additionalProperties: false })),
      },
      { additionalProperties: false },
    ),
  ),
};

interface RawRegistry {
  readonly store?: 'memory' | 'etcd' | undefined;
  readonly etcd?:
    | {
        readonly endpoints: readonly string[];
        readonly prefix?: string | undefined;
        readonly tls?: { readonly cert?: string | undefined; readonly key?: string | undefined; readonly ca?: string | undefined } | undefined;
        readonly auth?: { readonly username: string; readonly password: TokenSource } | undefined;
      }
    | undefined;
  readonly stateFile?: string | undefined;
  readonly remote?: string | readonly string[] | undefined;
}

/** The store the registry section names, its settings checked and its secrets read. */
export function readRegistryStore(raw: RawRegistry | undefined, fail: Fail): { store: 'memory' | 'etcd'; etcd: EtcdConfig | undefined } {
  const store = raw?.store ?? 'memory';
  const at = (...segments: PathSegment[]): PathSegment[] => ['registry', ...segments];
  if (store === 'memory') {
    if (raw?.etcd) fail(at('etcd'), 'is set but registry.store is "memory": set registry.store: etcd to use it');
    return { store, etcd: undefined };
  }
  const etcd = raw?.etcd;
  if (!etcd) fail(at('etcd'), 'is required with registry.store: etcd (at least etcd.endpoints)');
  if (raw?.stateFile !== undefined) {
    fail(at('stateFile'), 'cannot be used with registry.store: etcd, which keeps the registry in etcd (move a state file there with `shardvoy state import`)');
  }
  const remote = typeof raw?.remote === 'string' ? [raw.remote] : (raw?.remote ?? []);
  if (remote.some((r) => r !== 'local')) fail(at('remote'), 'cannot be used with registry.store: etcd: an instance either follows other servers or shares a registry');
  const endpoints = etcd.endpoints.map((text, i) => {
    const parsed = parseHostPort(text, { allowPortZero: false });
    if (!parsed.ok) fail(at('etcd', 'endpoints', i), `"${text}" is not host:port: ${parsed.reason}`);
    return text;
  });
  const tls = etcd.tls;
  if (tls && (tls.cert === undefined) !== (tls.key === undefined)) {
    fail(at('etcd', 'tls', tls.cert === undefined ? 'cert' : 'key'), 'cert and key go together: a client certificate needs its key');
  }
  return {
    store,
    etcd: {
      endpoints,
      prefix: etcd.prefix ?? DEFAULT_ETCD_PREFIX,
      tls: tls && {
        cert: tls.cert === undefined ? undefined : readPem(tls.cert, at('etcd', 'tls', 'cert'), fail),
        key: tls.key === undefined ? undefined : readPem(tls.key, at('etcd', 'tls', 'key'), fail),
        ca: tls.ca === undefined ? undefined : readPem(tls.ca, at('etcd', 'tls', 'ca'), fail),
      },
      auth: etcd.auth && { username: etcd.auth.username, password: resolveToken(etcd.auth.password, at('etcd', 'auth', 'password'), fail) },
    },
  };
}
