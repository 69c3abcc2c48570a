/**
 * The dkvoy dialect (contract 3.2): the seed's flat JSON, accepted as is and rewritten into the
 * native shape so that one validator and one normalizer serve both dialects. Errors name the
 * dkvoy key the user wrote (`shard0.listener_addr`), never the native path it became.
 */
import { ConfigError, closest, formatKeyPath, describeValue, type PathSegment } from './errors.js';
import type { NativeConfigFile, NativeGroup, NativeShard } from './schema.js';
import { NAME_PATTERN, NAME_REASON } from './schema.js';
import { parseHostPort } from '../util/host-port.js';

export interface DkvoyConversion {
  readonly native: NativeConfigFile;
  /** Maps a key path of `native` back to the dkvoy key that produced it, for error messages. */
  readonly keyPathOf: (segments: readonly PathSegment[]) => string;
}

const TOP_LEVEL_KEYS = ['appId', 'discoveryServerAddr', 'dc-id', 'database'] as const;
const KEYS_HELP =
  'dkvoy keys are appId, discoveryServerAddr, dc-id, database, <appId>.instanceGroups, <appId>.shards, ' +
  '<shard>.listener_addr, <shard>.clusters and <cluster>.connect_timeout';
const NAME = new RegExp(NAME_PATTERN);

/** Contract 3.2 tells the dialects apart by their keys. */
export function isDkvoyDialect(obj: Readonly<Record<string, unknown>>): boolean {
  return Object.keys(obj).some(
    (key) => key === 'appId' || key === 'discoveryServerAddr' || key === 'dc-id' || key.includes('.'),
  );
}

/** Splits at the last dot: shard and cluster names may themselves contain dots. */
function splitKey(key: string): { prefix: string; suffix: string } | undefined {
  const dot = key.lastIndexOf('.');
  if (dot <= 0 || dot === key.length - 1) return undefined;
  return { prefix: key.slice(0, dot), suffix: key.slice(dot + 1) };
}

export function convertDkvoy(obj: Readonly<Record<string, unknown>>, source?: string): DkvoyConversion {
  // A declaration (not an arrow const) so TypeScript narrows after calls that never return.
  function fail(keyPath: string, reason: string): never {
    throw new ConfigError(keyPath, reason, source);
  }
  const has = (key: string) => Object.prototype.hasOwnProperty.call(obj, key);
  const stringAt = (key: string): string => {
    const value = obj[key];
    if (typeof value !== 'string') return fail(key, `must be a string, got ${describeValue(value)}`);
    return value;
  };
  const stringListAt = (key: string): string[] => {
    const value = obj[key];
    if (!Array.isArray(value)) return fail(key, `must be a list of strings, got ${describeValue(value)}`);
    value.forEach((item, i) => {
      if (typeof item !== 'string') fail(`${key}[${i}]`, `must be a string, got ${describeValue(item)}`);
    });
    return value as string[];
  };

  // appId first: it decides which keys hold the groups and shards.
  if (!has('appId')) {
    fail('appId', 'is required in the dkvoy dialect (it names the <appId>.instanceGroups and <appId>.shards keys)');
  }
  const appId = stringAt('appId');
  if (!NAME.test(appId)) fail('appId', `${NAME_REASON}, got ${describeValue(appId)}`);
  const groupsKey = `${appId}.instanceGroups`;
  const shardsKey = `${appId}.shards`;

  // Type-check the lists the key classification below depends on.
  const groupNames = has(groupsKey) ? stringListAt(groupsKey) : undefined;
  const shardNames = has(shardsKey) ? stringListAt(shardsKey) : undefined;
  const shardSet = new Set(shardNames ?? []);
  const clusterSet = new Set<string>();
  for (const shard of shardSet) {
    const key = `${shard}.clusters`;
    if (has(key)) for (const cluster of stringListAt(key)) clusterSet.add(cluster);
  }

  const orphanTimeouts: string[] = [];
  // Unknown keys before missing ones: a typo ("listener_adr") is then reported as itself.
  for (const key of Object.keys(obj)) {
    if ((TOP_LEVEL_KEYS as readonly string[]).includes(key) || key === groupsKey || key === shardsKey) continue;
    const parts = splitKey(key);
    if (parts === undefined) {
      const suggestion = closest(key, TOP_LEVEL_KEYS);
      fail(key, `unknown key${suggestion !== undefined ? ` (did you mean "${suggestion}"?)` : ''}; ${KEYS_HELP}`);
    }
    const { prefix, suffix } = parts;
    switch (suffix) {
      case 'instanceGroups':
      case 'shards':
        fail(key, `unknown key: appId is "${appId}", so this must be "${appId}.${suffix}"`);
        break;
      case 'listener_addr':
      case 'clusters':
        // Without the shard list, its absence (reported below) is the error, not this key.
        if (shardNames !== undefined && !shardSet.has(prefix)) {
          fail(key, `unknown key: "${prefix}" is not a shard listed in ${shardsKey}`);
        }
        break;
      case 'connect_timeout':
        // Checked after the required keys: a missing <shard>.clusters is the real cause then.
        if (!clusterSet.has(prefix)) orphanTimeouts.push(key);
        break;
      default: {
        const suggestion = closest(suffix, ['instanceGroups', 'shards', 'listener_addr', 'clusters', 'connect_timeout']);
        const hint = suggestion !== undefined ? ` (did you mean "${prefix}.${suggestion}"?)` : '';
        fail(key, `unknown key${hint}; ${KEYS_HELP}`);
      }
    }
  }

  if (groupNames === undefined) fail(groupsKey, 'is required: the list of instance groups (one per Envoy group)');
  if (shardNames === undefined) fail(shardsKey, 'is required: the list of shards every group gets');

  let remote: string[] | undefined;
  if (has('discoveryServerAddr')) {
    // Validated now so a bad value fails at start-up; issue 6 (contract 7.2) makes it follow them.
    remote = parseDiscoveryServerAddr(stringAt('discoveryServerAddr'), fail);
  }

  let dc: string | undefined;
  if (has('dc-id')) {
    // Go's zero value: an empty dc-id means "no DC", so every endpoint gets priority 0.
    const value = stringAt('dc-id');
    dc = value === '' ? undefined : value;
  }
  const database = has('database') ? stringAt('database') : undefined;

  const shards: NativeShard[] = shardNames.map((name) => {
    const listenKey = `${name}.listener_addr`;
    const clustersKey = `${name}.clusters`;
    if (!has(listenKey)) fail(listenKey, `is required: the address shard "${name}"'s listener binds, e.g. "0.0.0.0:10000"`);
    if (!has(clustersKey)) fail(clustersKey, `is required: the clusters of shard "${name}", e.g. ["${name}-masters"]`);
    return { name, listen: stringAt(listenKey), clusters: stringListAt(clustersKey), protocol: 'http2' };
  });
  for (const key of orphanTimeouts) {
    fail(key, `unknown key: "${key.slice(0, key.lastIndexOf('.'))}" is not a cluster listed in any <shard>.clusters`);
  }

  const groups: NativeGroup[] = groupNames.map((name) => ({
    name,
    ...(dc !== undefined ? { dc } : {}),
    ...(database !== undefined ? { database } : {}),
    proxyless: false,
    shards: shards.map((shard) => ({ ...shard, clusters: [...shard.clusters] })),
  }));
  const clusters: Record<string, { connectTimeout: string }> = {};
  for (const cluster of clusterSet) {
    const key = `${cluster}.connect_timeout`;
    if (has(key)) clusters[cluster] = { connectTimeout: stringAt(key) };
  }

  const keyPathOf = (segments: readonly PathSegment[]): string => {
    const [head, i, sub, j, field, ...rest] = segments;
    if (head === 'groups') {
      if (i === undefined) return groupsKey;
      if (sub === undefined || sub === 'name') return `${groupsKey}[${i}]`;
      if (sub === 'dc') return 'dc-id';
      if (sub === 'database') return 'database';
      if (sub === 'shards') {
        if (j === undefined) return shardsKey;
        const shardName = typeof j === 'number' ? shardNames[j] : undefined;
        if (field === undefined || field === 'name' || shardName === undefined) return `${shardsKey}[${j}]`;
        if (field === 'listen') return `${shardName}.listener_addr`;
        if (field === 'clusters') return `${shardName}.clusters${rest.map((k) => `[${k}]`).join('')}`;
      }
    }
    if (head === 'clusters' && typeof i === 'string') return `${i}.connect_timeout`;
    if (head === 'registry' && i === 'remote') return 'discoveryServerAddr';
    return formatKeyPath(segments);
  };

  // discoveryServerAddr names the discovery servers to follow: the native registry.remote.
  const registry = remote ? { registry: { remote } } : {};
  return { native: { ...registry, groups, ...(Object.keys(clusters).length > 0 ? { clusters } : {}) }, keyPathOf };
}

/** `""` or `local`: the own registry; `multi:///h1:p1,h2:p2`: follow those servers (contract 7.2). */
function parseDiscoveryServerAddr(value: string, fail: (keyPath: string, reason: string) => never): string[] | undefined {
  const key = 'discoveryServerAddr';
  if (value === '' || value === 'local') return undefined;
  const prefix = 'multi:///';
  if (!value.startsWith(prefix)) {
    fail(key, `must be "multi:///host:port,host:port,...", "local" or empty, got ${describeValue(value)}`);
  }
  const addresses = value.slice(prefix.length).split(',');
  addresses.forEach((address, i) => {
    const parsed = parseHostPort(address);
    if (!parsed.ok) fail(key, `address ${i + 1} of the list, "${address}": ${parsed.reason}`);
  });
  return addresses;
}
