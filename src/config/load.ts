/**
 * Reads a configuration (file, object or the built-in default) into the normalized Config.
 * Both dialects pass through the same schema and semantic checks; every failure is one
 * ConfigError naming the key path the user wrote (contract sections 2 and 3).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { extname } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { LineCounter, parseDocument } from 'yaml';
import { parseHostPort } from '../util/host-port.js';
import { parseDuration } from './duration.js';
import { isAdvertisableHost, parseNodeListeners } from './node-listeners.js';
import { readTls, resolveToken } from './secrets.js';
import { readRegistryStore } from './etcd.js';
import { convertDkvoy, isDkvoyDialect } from './dkvoy.js';
import { ConfigError, closest, describeValue, formatKeyPath, type PathSegment } from './errors.js';
import {
  DEFAULT_DATABASE,
  DEFAULT_DEBOUNCE_MS,
  DEFAULT_EXPIRED_RETENTION_SECONDS,
  DEFAULT_FENCED_CONNECTION_CLOSE_SECONDS,
  DEFAULT_GRPC_LISTEN,
  DEFAULT_HTTP_LISTEN,
  DEFAULT_LEASE_SECONDS,
  DEFAULT_MAX_CONNECTION_AGE_GRACE_SECONDS,
  DEFAULT_MAX_CONNECTION_AGE_SECONDS,
  DEFAULT_MAX_DELAY_MS,
  DEFAULT_MAX_EXPIRED_FRACTION,
  DEFAULT_MAX_NODES,
  DEFAULT_NACK_RETRY_MAX_SECONDS,
  DEFAULT_EVENTS_RETAIN,
  DEFAULT_XDS_MAX_NODE_BYTES,
  DEFAULT_XDS_MAX_NODE_STRING_LENGTH,
  DEFAULT_XDS_MAX_REQUEST_BYTES,
  DEFAULT_XDS_MAX_RESOURCE_NAME_LENGTH,
  DEFAULT_XDS_MAX_STREAMS,
  DEFAULT_XDS_MAX_STREAMS_PER_PEER,
  DEFAULT_XDS_MAX_REFUSED_STREAMS_PER_CONNECTION,
  DEFAULT_XDS_MAX_STREAMS_PER_CONNECTION,
  DEFAULT_XDS_MAX_SUBSCRIBED_NAMES,
  DEFAULT_XDS_WRITE_TIMEOUT_SECONDS,
  DEFAULT_POLL_INTERVAL_SECONDS,
  DEFAULT_PORT_REUSE_SECONDS,
  DEFAULT_SELF_PRESERVATION_MIN_NODES,
  DEFAULT_STREAM_REQUEST_BURST,
  DEFAULT_STREAM_REQUESTS_PER_SECOND,
  NativeConfigSchema,
  type NativeConfigFile,
} from './schema.js';
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  type ClusterSettings,
  type Config,
  type GroupConfig,
  type HostPort,
  type NodeListenersConfig,
  type ShardConfig,
} from './types.js';

export { ConfigError } from './errors.js';

type KeyPathOf = (segments: readonly PathSegment[]) => string;

// allErrors: so an unknown key can be reported in preference to the "required" error its typo causes.
const ajv = new Ajv({ allErrors: true, strict: true, verbose: true });
// Annotation only: the user-facing reason for a failed pattern/length/range rule (see schema.ts).
ajv.addKeyword({ keyword: 'reason', schemaType: 'string' });
const validateNative = ajv.compile(NativeConfigSchema);

/** Contract 3.3: what `serve` runs with when no configuration is given. */
export function defaultConfig(): Config {
  return parseConfig(
    {
      groups: [
        {
          name: 'local-group',
          database: DEFAULT_DATABASE,
          shards: [{ name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters', 'shard0-replicas'], protocol: 'tcp' }],
        },
      ],
    },
    'built-in default',
  );
}

/** Reads a JSON (.json) or YAML (.yaml, .yml) file in either dialect. */
export function loadConfigFile(path: string): Config {
  const ext = extname(path).toLowerCase();
  if (ext !== '.json' && ext !== '.yaml' && ext !== '.yml') {
    const what = ext === '' ? 'has no file extension' : `has the unsupported extension "${ext}"`;
    throw new ConfigError(path, `${what}; configuration files must end in .json, .yaml or .yml`, path);
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, `cannot read the file: ${describeFsError(err)}`, path);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // editors on Windows add a BOM
  if (text.trim() === '') throw new ConfigError(path, 'the file is empty', path);
  const value = ext === '.json' ? parseJson(text, path) : parseYaml(text, path);
  return parseConfig(value, path);
}

/** Validates and normalizes an already-parsed configuration object of either dialect. */
export function parseConfig(obj: unknown, source = 'config'): Config {
  if (!isPlainObject(obj)) {
    throw new ConfigError('(root)', `must be a mapping of configuration keys, got ${describeValue(obj)}`, source);
  }
  if (isDkvoyDialect(obj)) {
    const conversion = convertDkvoy(obj, source);
    return buildConfig(conversion.native, conversion.keyPathOf, source);
  }
  return buildConfig(obj, formatKeyPath, source);
}

/** The CLI's --http/--grpc flags (port 0 picks a free port). */
export function applyOverrides(config: Config, overrides: { http?: string; grpc?: string; pollInterval?: string }): Config {
  const listenFlag = (flag: '--http' | '--grpc', text: string): HostPort => {
    const parsed = parseHostPort(text, { allowPortZero: true });
    if (!parsed.ok) throw new ConfigError(flag, `"${text}" is not a valid listen address: ${parsed.reason}`, 'flags');
    return parsed.value;
  };
  let registry = config.registry;
  if (overrides.pollInterval !== undefined) {
    const seconds = Number(overrides.pollInterval);
    if (!/^[0-9]+(\.[0-9]+)?$/.test(overrides.pollInterval) || !(seconds > 0)) {
      throw new ConfigError('--poll-interval', `"${overrides.pollInterval}" is not a number of seconds above 0`, 'flags');
    }
    registry = { ...registry, pollIntervalSeconds: seconds };
  }
  return deepFreeze({
    ...config,
    registry,
    http: overrides.http === undefined ? config.http : { ...config.http, listen: listenFlag('--http', overrides.http) },
    grpc: overrides.grpc === undefined ? config.grpc : { ...config.grpc, listen: listenFlag('--grpc', overrides.grpc) },
  });
}

function buildConfig(raw: unknown, keyPathOf: KeyPathOf, source: string): Config {
  function fail(segments: readonly PathSegment[], reason: string): never {
    throw new ConfigError(keyPathOf(segments), reason, source);
  }

  if (!validateNative(raw)) {
    const error = pickError(validateNative.errors ?? []);
    if (error === undefined) fail([], 'is invalid');
    const { segments, reason } = translateAjvError(error, raw);
    fail(segments, reason);
  }
  const file: NativeConfigFile = raw;

  const listenAt = (segments: PathSegment[], text: string, allowPortZero: boolean): HostPort => {
    const parsed = parseHostPort(text, { allowPortZero });
    if (!parsed.ok) fail(segments, `"${text}" is not a valid listen address: ${parsed.reason}`);
    return parsed.value;
  };
  const http = {
    listen: listenAt(['http', 'listen'], file.http?.listen ?? DEFAULT_HTTP_LISTEN, true),
    tls: file.http?.tls && readTls(file.http.tls, ['http', 'tls'], fail),
  };
  const grpc = {
    listen: listenAt(['grpc', 'listen'], file.grpc?.listen ?? DEFAULT_GRPC_LISTEN, true),
    tls: file.grpc?.tls && readTls(file.grpc.tls, ['grpc', 'tls'], fail),
  };
  const auth = {
    heartbeatTokens: (file.auth?.heartbeatTokens ?? []).map((source, i) => resolveToken(source, ['auth', 'heartbeatTokens', i], fail)),
    adminToken: file.auth?.adminToken === undefined ? undefined : resolveToken(file.auth.adminToken, ['auth', 'adminToken'], fail),
    readToken: file.auth?.readToken === undefined ? undefined : resolveToken(file.auth.readToken, ['auth', 'readToken'], fail),
  };
  const registry = {
    ...readRegistryStore(file.registry, fail),
    leaseSeconds: file.registry?.leaseSeconds ?? DEFAULT_LEASE_SECONDS,
    expiredRetentionSeconds: file.registry?.expiredRetentionSeconds ?? DEFAULT_EXPIRED_RETENTION_SECONDS,
    portReuseSeconds: file.registry?.portReuseSeconds ?? DEFAULT_PORT_REUSE_SECONDS,
    stateFile: file.registry?.stateFile,
    // Contract 9: by default, as long as one lease, so every live node has heartbeated once.
    warmupSeconds: file.registry?.warmupSeconds ?? file.registry?.leaseSeconds ?? DEFAULT_LEASE_SECONDS,
    maxNodes: file.registry?.maxNodes ?? DEFAULT_MAX_NODES,
    remote: remoteRegistries(file.registry?.remote, fail),
    pollIntervalSeconds: file.registry?.pollIntervalSeconds ?? DEFAULT_POLL_INTERVAL_SECONDS,
    selfPreservation: {
      enabled: file.registry?.selfPreservation?.enabled ?? true,
      maxExpiredFraction: file.registry?.selfPreservation?.maxExpiredFraction ?? DEFAULT_MAX_EXPIRED_FRACTION,
      minNodes: file.registry?.selfPreservation?.minNodes ?? DEFAULT_SELF_PRESERVATION_MIN_NODES,
    },
  };
  const xds = {
    debounceMs: file.xds?.debounceMs ?? DEFAULT_DEBOUNCE_MS,
    maxDelayMs: file.xds?.maxDelayMs ?? DEFAULT_MAX_DELAY_MS,
    maxConnectionAgeSeconds: file.xds?.maxConnectionAgeSeconds ?? DEFAULT_MAX_CONNECTION_AGE_SECONDS,
    maxConnectionAgeGraceSeconds: file.xds?.maxConnectionAgeGraceSeconds ?? DEFAULT_MAX_CONNECTION_AGE_GRACE_SECONDS,
    streamRequestsPerSecond: file.xds?.streamRequestsPerSecond ?? DEFAULT_STREAM_REQUESTS_PER_SECOND,
    streamRequestBurst: file.xds?.streamRequestBurst ?? DEFAULT_STREAM_REQUEST_BURST,
    fencedConnectionCloseSeconds: file.xds?.fencedConnectionCloseSeconds ?? DEFAULT_FENCED_CONNECTION_CLOSE_SECONDS,
    nackRetryMaxSeconds: file.xds?.nackRetryMaxSeconds ?? DEFAULT_NACK_RETRY_MAX_SECONDS,
    maxRequestBytes: file.xds?.maxRequestBytes ?? DEFAULT_XDS_MAX_REQUEST_BYTES,
    maxNodeBytes: file.xds?.maxNodeBytes ?? DEFAULT_XDS_MAX_NODE_BYTES,
    maxNodeStringLength: file.xds?.maxNodeStringLength ?? DEFAULT_XDS_MAX_NODE_STRING_LENGTH,
    maxResourceNameLength: file.xds?.maxResourceNameLength ?? DEFAULT_XDS_MAX_RESOURCE_NAME_LENGTH,
    maxSubscribedNames: file.xds?.maxSubscribedNames ?? DEFAULT_XDS_MAX_SUBSCRIBED_NAMES,
    maxStreamsPerPeer: file.xds?.maxStreamsPerPeer ?? DEFAULT_XDS_MAX_STREAMS_PER_PEER,
    maxStreams: file.xds?.maxStreams ?? DEFAULT_XDS_MAX_STREAMS,
    maxStreamsPerConnection: file.xds?.maxStreamsPerConnection ?? DEFAULT_XDS_MAX_STREAMS_PER_CONNECTION,
    maxRefusedStreamsPerConnection: file.xds?.maxRefusedStreamsPerConnection ?? DEFAULT_XDS_MAX_REFUSED_STREAMS_PER_CONNECTION,
    writeTimeoutSeconds: file.xds?.writeTimeoutSeconds ?? DEFAULT_XDS_WRITE_TIMEOUT_SECONDS,
    ...(file.xds?.controlPlaneId === undefined ? {} : { controlPlaneId: file.xds.controlPlaneId }),
  };
  const events = file.events === undefined ? {} : { events: { retain: file.events.retain ?? DEFAULT_EVENTS_RETAIN } };
  if (xds.maxDelayMs < xds.debounceMs) {
    // The cap on waiting cannot be shorter than the window that batches changes.
    fail(['xds', 'maxDelayMs'], `must be at least xds.debounceMs (${xds.debounceMs}), got ${xds.maxDelayMs}`);
  }

  const groupAt = new Map<string, number>();
  // A Set: with thousands of shards, a list's includes() made loading quadratic.
  const allClusters = new Set<string>();
  const groups: GroupConfig[] = file.groups.map((group, gi) => {
    const firstGroup = groupAt.get(group.name);
    if (firstGroup !== undefined) {
      fail(['groups', gi, 'name'], `duplicate group name "${group.name}" (already used at ${keyPathOf(['groups', firstGroup, 'name'])})`);
    }
    groupAt.set(group.name, gi);
    const proxyless = group.proxyless ?? false;
    const shardAt = new Map<string, number>();
    const clusterAt = new Map<string, readonly PathSegment[]>();
    // Every port this group's Envoy binds, to find two listeners on one address.
    // Indexed by port: a group of thousands of shards must not cost a comparison per pair.
    type Claim = { host: string; first: number; last: number; what: string };
    const claimsByPort = new Map<number, Claim[]>();
    const claim = (path: PathSegment[], host: string, first: number, last: number, what: string) => {
      const mine: Claim = { host: host.toLowerCase(), first, last, what };
      for (let port = first; port <= last; port++) {
        const clash = claimsByPort.get(port)?.find((c) => hostsOverlap(c.host, mine.host));
        if (clash) fail(path, `${what} on ${host}:${port} collides with ${clash.what} on ${clash.host}:${port} in group "${group.name}"`);
      }
      for (let port = first; port <= last; port++) {
        const list = claimsByPort.get(port);
        if (list) list.push(mine);
        else claimsByPort.set(port, [mine]);
      }
    };
    const groupPath = (...rest: PathSegment[]): PathSegment[] => ['groups', gi, ...rest];

    const shards: ShardConfig[] = (group.shards ?? []).map((shard, si) => {
      const at = (...rest: PathSegment[]): PathSegment[] => ['groups', gi, 'shards', si, ...rest];
      const firstShard = shardAt.get(shard.name);
      if (firstShard !== undefined) {
        fail(at('name'), `duplicate shard name "${shard.name}" in group "${group.name}" (already used at ${keyPathOf(['groups', gi, 'shards', firstShard, 'name'])})`);
      }
      shardAt.set(shard.name, si);
      const protocol = shard.protocol ?? 'tcp';

      shard.clusters.forEach((cluster, ci) => {
        const roles = ['masters', 'replicas', 'slaves'].map((role) => `${shard.name}-${role}`);
        if (!roles.includes(cluster)) {
          fail(at('clusters', ci), `cluster "${cluster}" does not belong to shard "${shard.name}": its clusters must be named ${roles.join(', ')}`);
        }
        const first = clusterAt.get(cluster);
        if (first !== undefined) {
          fail(at('clusters', ci), `duplicate cluster "${cluster}" in group "${group.name}" (already listed at ${keyPathOf(first)})`);
        }
        clusterAt.set(cluster, at('clusters', ci));
        allClusters.add(cluster);
      });

      if (shard.listen === undefined) {
        if (!proxyless) fail(at('listen'), `is required: the address shard "${shard.name}"'s listener binds, e.g. "0.0.0.0:10000" (only shards of proxyless groups may omit it)`);
        return { name: shard.name, listen: undefined, clusters: [...shard.clusters], protocol };
      }
      const listen = listenAt(at('listen'), shard.listen, false);
      // Envoy binds listeners to IP addresses only; a name here would be NACKed by every sidecar.
      if (isIP(listen.host) === 0) fail(at('listen'), `"${shard.listen}": an Envoy listener binds an IP address, not a host name`);
      // tcp: cluster i listens on port + i (contract 3.1); http2: one listener for all clusters.
      const ports = protocol === 'tcp' ? shard.clusters.length : 1;
      const lastPort = listen.port + ports - 1;
      if (lastPort > 65535) {
        fail(at('listen'), `a tcp shard with ${ports} clusters needs ports ${listen.port}..${lastPort}, past 65535; choose a lower port`);
      }
      // A proxyless group gets no listeners (contract 7.4), so its addresses cannot collide.
      if (!proxyless) {
        for (let i = 0; i < ports; i++) {
          const what = `shard "${shard.name}"'s listener for ${protocol === 'tcp' ? (shard.clusters[i] ?? '') : shard.clusters.join(', ')}`;
          claim(at('listen'), listen.host, listen.port + i, listen.port + i, what);
        }
      }
      return { name: shard.name, listen, clusters: [...shard.clusters], protocol };
    });
    const reach = reachability(group, groupPath, proxyless, listenAt, claim, fail);
    if (shards.length === 0 && !reach.bootstrapListener && !reach.nodeListeners) {
      fail(groupPath('shards'), 'must list at least one shard (only a group with nodeListeners or a bootstrapListener may have none)');
    }
    return { name: group.name, dc: group.dc, database: group.database ?? DEFAULT_DATABASE, proxyless, shards, ...reach };
  });

  const clusters: Record<string, ClusterSettings> = {};
  for (const name of allClusters) clusters[name] = { connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS };
  for (const [name, settings] of Object.entries(file.clusters ?? {})) {
    if (!allClusters.has(name)) {
      const known = allClusters.size > 0 ? `; the shards list ${[...allClusters].join(', ')}` : '';
      fail(['clusters', name], `unknown cluster "${name}": no shard lists it${known}`);
    }
    if (settings.connectTimeout !== undefined) {
      const parsed = parseDuration(settings.connectTimeout);
      if (!parsed.ok) fail(['clusters', name, 'connectTimeout'], parsed.reason);
      if (parsed.ms <= 0) fail(['clusters', name, 'connectTimeout'], `must be greater than 0, got "${settings.connectTimeout}"`);
      clusters[name] = { connectTimeoutMs: parsed.ms };
    }
  }

  return deepFreeze({ http, grpc, auth, registry, xds, ...events, groups, clusters });
}

/** registry.remote: discovery servers to follow (contract 7.2); empty or `local` means the own registry. */
function remoteRegistries(value: string | string[] | undefined, fail: (segments: readonly PathSegment[], reason: string) => never): string[] {
  if (value === undefined || value === '' || value === 'local') return [];
  const list = typeof value === 'string' ? [value] : value;
  list.forEach((address, i) => {
    const parsed = parseHostPort(address);
    if (!parsed.ok) fail(['registry', 'remote', ...(typeof value === 'string' ? [] : [i])], `"${address}" is not host:port: ${parsed.reason}`);
  });
  return [...list];
}

/** advertisedHost, bootstrapListener and nodeListeners of one group (contract section 6). */
function reachability(
  group: NativeConfigFile['groups'][number],
  at: (...rest: PathSegment[]) => PathSegment[],
  proxyless: boolean,
  listenAt: (segments: PathSegment[], text: string, allowPortZero: boolean) => HostPort,
  claim: (path: PathSegment[], host: string, first: number, last: number, what: string) => void,
  fail: (segments: readonly PathSegment[], reason: string) => never,
): Pick<GroupConfig, 'advertisedHost' | 'bootstrapListener' | 'nodeListeners'> {
  const { advertisedHost } = group;
  if (advertisedHost !== undefined && !isAdvertisableHost(advertisedHost)) {
    fail(at('advertisedHost'), `"${advertisedHost}" is neither an IP address nor a DNS name`);
  }
  if (proxyless && (group.bootstrapListener !== undefined || group.nodeListeners !== undefined)) {
    const key = group.bootstrapListener !== undefined ? 'bootstrapListener' : 'nodeListeners';
    fail(at(key), 'a proxyless group gets no TCP listeners; reach nodes from another network through an Envoy group');
  }
  if (group.bootstrapListener !== undefined || group.nodeListeners !== undefined) {
    // The bootstrap pair is named "bootstrap" and each node's pair "node-<id>": a shard's listener
    // or cluster of such a name would be silently replaced.
    (group.shards ?? []).forEach((shard, si) => {
      if (shard.name === 'bootstrap' || shard.name.startsWith('node-')) {
        fail(at('shards', si, 'name'), `"${shard.name}" is reserved in a group with nodeListeners or a bootstrapListener ("bootstrap" and "node-<id>" name their listeners and clusters)`);
      }
    });
  }
  let bootstrapListener: HostPort | undefined;
  if (group.bootstrapListener !== undefined) {
    bootstrapListener = listenAt(at('bootstrapListener'), group.bootstrapListener, false);
    if (isIP(bootstrapListener.host) === 0) fail(at('bootstrapListener'), `"${group.bootstrapListener}": an Envoy listener binds an IP address, not a host name`);
    claim(at('bootstrapListener'), bootstrapListener.host, bootstrapListener.port, bootstrapListener.port, 'the bootstrap listener');
  }
  let nodeListeners: NodeListenersConfig | undefined;
  if (group.nodeListeners !== undefined) {
    nodeListeners = parseNodeListeners(group.nodeListeners, advertisedHost, (...rest) => at('nodeListeners', ...rest), fail);
    nodeListeners.frontEnds.forEach((frontEnd, i) => {
      const path = Array.isArray(group.nodeListeners?.ports) ? at('nodeListeners', 'ports', i, 'ports') : at('nodeListeners', 'ports');
      claim(path, nodeListeners!.listenHost, frontEnd.firstPort, frontEnd.lastPort, `the node listeners of ${frontEnd.advertisedHost}`);
    });
  }
  return { advertisedHost, bootstrapListener, nodeListeners };
}

/** 0.0.0.0 and :: bind every address, so they overlap any host on the same port. */
function hostsOverlap(a: string, b: string): boolean {
  const wildcard = (host: string) => host === '0.0.0.0' || host === '::';
  return a === b || wildcard(a) || wildcard(b);
}

// Unknown keys first: a misspelt key also makes its correct spelling "required", and the
// misspelling is what the user needs to see.
const PRIORITY: Readonly<Record<string, number>> = { additionalProperties: 0, required: 1 };

function pickError(errors: readonly ErrorObject[]): ErrorObject | undefined {
  let best: ErrorObject | undefined;
  for (const error of errors) {
    if (best === undefined || (PRIORITY[error.keyword] ?? 2) < (PRIORITY[best.keyword] ?? 2)) best = error;
  }
  return best;
}

function translateAjvError(error: ErrorObject, data: unknown): { segments: PathSegment[]; reason: string } {
  const segments = pointerToSegments(error.instancePath, data);
  const params = error.params as Record<string, unknown>;
  const parentSchema = (error.parentSchema ?? {}) as { reason?: unknown; properties?: Record<string, unknown> };
  const got = `got ${describeValue(error.data)}`;
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(params['additionalProperty']);
      const allowed = Object.keys(parentSchema.properties ?? {});
      const suggestion = closest(key, allowed);
      const hint = suggestion !== undefined ? ` (did you mean "${suggestion}"?)` : '';
      return { segments: [...segments, key], reason: `unknown key${hint}; allowed keys here: ${allowed.join(', ')}` };
    }
    case 'required':
      return { segments: [...segments, String(params['missingProperty'])], reason: 'is required' };
    case 'type': {
      const expected = String(params['type']);
      const noun: Record<string, string> = {
        string: 'a string',
        number: 'a number',
        integer: 'an integer',
        boolean: 'true or false',
        array: 'a list',
        object: 'a mapping of keys to values',
      };
      return { segments, reason: `must be ${noun[expected] ?? expected}, ${got}` };
    }
    case 'enum': {
      const allowed = (params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ');
      return { segments, reason: `must be one of ${allowed}, ${got}` };
    }
    default: {
      const reason = typeof parentSchema.reason === 'string' ? parentSchema.reason : (error.message ?? 'is invalid');
      return { segments, reason: `${reason}, ${got}` };
    }
  }
}

/** `/groups/0/shards/1/listen` -> ['groups', 0, 'shards', 1, 'listen'], indexes only where the data is a list. */
function pointerToSegments(pointer: string, data: unknown): PathSegment[] {
  const segments: PathSegment[] = [];
  let node: unknown = data;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      const index = Number(key);
      segments.push(index);
      node = node[index];
    } else {
      segments.push(key);
      node = isPlainObject(node) ? node[key] : undefined;
    }
  }
  return segments;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    let message = err instanceof Error ? err.message : String(err);
    // V8 reports an offset; people look for a line and column.
    const position = /at position (\d+)/.exec(message);
    if (position?.[1] !== undefined) {
      const offset = Number(position[1]);
      const before = text.slice(0, offset).split('\n');
      const line = before.length;
      const column = (before[before.length - 1] ?? '').length + 1;
      message = `${message.replace(/\s*in JSON at position \d+.*$/, '')} at line ${line}, column ${column}`;
    }
    throw new ConfigError(path, `invalid JSON: ${message}`, path);
  }
}

function parseYaml(text: string, path: string): unknown {
  const lineCounter = new LineCounter();
  // prettyErrors off: its multi-line code frame does not fit a one-line error.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const error = doc.errors[0];
  if (error !== undefined) {
    const { line, col } = lineCounter.linePos(error.pos[0]);
    throw new ConfigError(path, `invalid YAML at line ${line}, column ${col}: ${error.message}`, path);
  }
  try {
    return doc.toJS();
  } catch (err) {
    // e.g. too many aliases (a "billion laughs" document)
    throw new ConfigError(path, `invalid YAML: ${err instanceof Error ? err.message : String(err)}`, path);
  }
}

function describeFsError(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory, not a file';
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
