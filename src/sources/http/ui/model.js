// What the dashboard shows, derived from what the endpoints answer: pure functions, no DOM.

const ROUTABLE = new Set(['healthy', 'draining']);

/** A STALE type younger than this is a push on its way, not yet a problem. */
export const STALE_GRACE_MS = 5000;

const compare = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The parts of GET /metrics the page needs: self-preservation, and the configured groups (the
 * xDS stream gauge has a series for each, 0 when no Envoy is connected).
 */
export function parseMetrics(text) {
  let selfPreservation;
  let shardsWithoutMaster;
  const streams = new Map();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const [, name, labels = '', value] = match;
    if (name === 'shardvoy_self_preservation_engaged') selfPreservation = Number(value) > 0;
    else if (name === 'shardvoy_shards_without_master') shardsWithoutMaster = Number(value);
    else if (name === 'shardvoy_xds_streams') {
      const group = label(labels, 'group');
      if (group !== undefined && group !== '') streams.set(group, (streams.get(group) ?? 0) + Number(value));
    }
  }
  return { selfPreservation, shardsWithoutMaster, streamsByGroup: streams };
}

function label(labels, name) {
  const match = new RegExp(`[{,]${name}="((?:[^"\\\\]|\\\\.)*)"`).exec(labels);
  if (!match) return undefined;
  return match[1].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
}

/** GET /clusters → one entry per database and shard: its masters, replicas, fenced, expired and other nodes. */
export function shardsOf(clusters) {
  const shards = new Map();
  for (const cluster of clusters) {
    const key = `${cluster.database}/${cluster.shard}`;
    let shard = shards.get(key);
    if (!shard) {
      shard = { key, database: cluster.database, shard: cluster.shard, clusters: [], masters: [], replicas: [], fenced: [], expired: [], inactive: [] };
      shards.set(key, shard);
    }
    shard.clusters.push(cluster.name);
    for (const endpoint of cluster.endpoints) {
      const node = { ...endpoint, role: cluster.role };
      if (endpoint.health === 'fenced') shard.fenced.push(node);
      else if (endpoint.health === 'expired') shard.expired.push(node);
      else if (!ROUTABLE.has(endpoint.health)) shard.inactive.push(node);
      else if (cluster.role === 'master') shard.masters.push(node);
      else shard.replicas.push(node);
    }
  }
  const byId = (a, b) => compare(a.id, b.id);
  const list = [...shards.values()];
  for (const shard of list) {
    for (const part of ['masters', 'replicas', 'fenced', 'expired', 'inactive']) shard[part].sort(byId);
    shard.masters.sort((a, b) => b.epoch - a.epoch || byId(a, b));
    shard.noMaster = shard.masters.length === 0;
    shard.preserved = [...shard.masters, ...shard.replicas, ...shard.fenced, ...shard.expired, ...shard.inactive].filter((n) => n.preserved).length;
  }
  // Red first: shards with no routable master, then the rest, each by name.
  return list.sort((a, b) => Number(b.noMaster) - Number(a.noMaster) || compare(a.key, b.key));
}

/** A client type's state as the page colours it: error (red), stale (red past the grace), pending, ok, idle. */
export function typeState(status, nowMs) {
  switch (status.configStatus) {
    case 'ERROR':
      return 'error';
    case 'STALE': {
      const sentAt = status.lastSentAt ? Date.parse(status.lastSentAt) : Number.NaN;
      return Number.isFinite(sentAt) && nowMs - sentAt < STALE_GRACE_MS ? 'pending' : 'stale';
    }
    case 'SYNCED':
      return 'ok';
    default:
      return 'idle';
  }
}

const TYPE_ORDER = ['cds', 'eds', 'lds', 'rds'];

/**
 * GET /v1/xds/clients and the configured groups → per group its clients, each with its types
 * and whether it is red; groups with no client are kept (an Envoy fleet that is not connected).
 */
export function groupsOf(clients, configuredGroups, nowMs) {
  const groups = new Map();
  const groupFor = (name) => {
    let group = groups.get(name);
    if (!group) groups.set(name, (group = { name, clients: [] }));
    return group;
  };
  for (const name of configuredGroups) groupFor(name);
  for (const client of clients) {
    const types = Object.entries(client.types)
      .map(([type, status]) => ({ type, ...status, state: typeState(status, nowMs) }))
      .sort((a, b) => rank(a.type) - rank(b.type) || compare(a.type, b.type));
    const bad = types.some((t) => t.state === 'error' || t.state === 'stale');
    groupFor(client.group ?? '').clients.push({ ...client, types, bad });
  }
  const list = [...groups.values()];
  for (const group of list) {
    group.clients.sort((a, b) => Number(b.bad) - Number(a.bad) || compare(a.nodeId ?? '', b.nodeId ?? '') || a.streamId - b.streamId);
    group.bad = group.clients.some((c) => c.bad);
    group.empty = group.clients.length === 0;
  }
  // Red groups first, then groups with no Envoy, then the rest.
  const weight = (g) => (g.bad ? 0 : g.empty ? 1 : 2);
  return list.sort((a, b) => weight(a) - weight(b) || compare(a.name, b.name));
}

function rank(type) {
  const i = TYPE_ORDER.indexOf(type);
  return i < 0 ? TYPE_ORDER.length : i;
}

/** The red and amber lines at the top of the page, red first. */
export function problemsOf({ shards, groups, selfPreservation, preservedCount, ready, stream }) {
  const red = [];
  const amber = [];
  if (selfPreservation) {
    red.push({ kind: 'self-preservation', text: `Self-preservation engaged: expiry is stopped and ${preservedCount} silent node${preservedCount === 1 ? '' : 's'} stay routable (POST /v1/registry/resume-expiry expires them).` });
  }
  for (const shard of shards) {
    if (!shard.noMaster) continue;
    const lost = [...shard.fenced, ...shard.expired, ...shard.inactive].filter((n) => n.role === 'master').map((n) => `${n.id} ${n.health}`);
    red.push({ kind: 'no-master', key: shard.key, text: `${shard.key}: no routable master${lost.length ? ` (${lost.join(', ')})` : ''}` });
  }
  for (const group of groups) {
    for (const client of group.clients) {
      for (const t of client.types) {
        const who = `${client.nodeId ?? `stream ${client.streamId}`} (group ${group.name || '?'})`;
        if (t.state === 'error') red.push({ kind: 'nack', key: `${client.streamId}/${t.type}`, text: `${who} rejects ${t.type} ${t.lastNack?.version ?? ''}: ${t.lastNack?.message ?? ''}` });
        else if (t.state === 'stale') red.push({ kind: 'stale', key: `${client.streamId}/${t.type}`, text: `${who} has not acknowledged ${t.type} ${t.lastSentVersion ?? ''} (sent ${t.lastSentAt ?? 'never'})` });
      }
    }
    if (group.empty) amber.push({ kind: 'no-envoy', key: group.name, text: `group ${group.name}: no Envoy connected` });
  }
  if (ready && !ready.ready) amber.push({ kind: 'not-ready', text: `not ready: ${ready.reason}` });
  if (stream === 'reconnecting') amber.push({ kind: 'stream', text: 'event stream lost: reconnecting; what is shown may be behind' });
  return { red, amber };
}
