/**
 * 6. Convergence of real Envoys: N Envoys (--concurrency 1) of one group, each in its own network
 * namespace, on one master change at a time. Per Envoy: the time until shardvoy holds its ACK of
 * the new endpoints, and until a new connection through that Envoy reaches the new master.
 */
import net from 'node:net';
import { EnvoyFleet, type FleetEnvoy } from '../lib/envoy-fleet.js';
import type { Profile } from '../lib/profile.js';
import { atMost } from '../lib/report.js';
import { fmt, fmtBytes, median, spread, type Spread } from '../lib/stats.js';
import type { Scenario } from './scenario.js';

const GROUP = 'fleet';
const LISTEN_PORT = 10000;
const DEBOUNCE_MS = 10;

interface Change {
  readonly ackMs: number[];
  readonly routeMs: number[];
  readonly missing: number;
}

/** A node that answers every chunk with its id. */
async function idServer(id: string, host: string): Promise<{ port: number; close: () => void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.on('data', () => socket.write(`${id}\n`));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

function whoAnswers(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port }, () => socket.write('who\n'));
    const done = (answer: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(undefined), 1_000);
    socket.on('data', (chunk) => done(chunk.toString().trim()));
    socket.on('error', () => done(undefined));
    socket.on('close', () => done(undefined));
  });
}

/** From `t0` until a new connection through this Envoy lands on `expected`: the start time of that connection. */
async function routedAt(envoy: FleetEnvoy, expected: string, deadline: number): Promise<number | undefined> {
  while (Date.now() < deadline) {
    const startedAt = Date.now();
    if ((await whoAnswers(envoy.address, LISTEN_PORT)) === expected) return startedAt;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return undefined;
}

/** Polls /v1/xds/clients until every Envoy's EDS ACK differs from `before`: when each was first seen. */
async function ackedAt(http: string, envoys: readonly FleetEnvoy[], before: ReadonlyMap<string, string>, deadline: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  while (seen.size < envoys.length && Date.now() < deadline) {
    const clients = ((await (await fetch(`${http}/v1/xds/clients`)).json()) as { clients: any[] }).clients;
    const now = Date.now();
    for (const client of clients) {
      const address = envoyOf(client.peer, envoys)?.address;
      const eds = client.types.eds;
      if (address && !seen.has(address) && eds?.lastAckedVersion && eds.lastAckedVersion !== before.get(address) && eds.lastAckedVersion === eds.lastSentVersion) seen.set(address, now);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return seen;
}

function envoyOf(peer: string, envoys: readonly FleetEnvoy[]): FleetEnvoy | undefined {
  return envoys.find((e) => peer.includes(`${e.address}:`));
}

async function edsAcks(http: string, envoys: readonly FleetEnvoy[]): Promise<Map<string, string>> {
  const clients = ((await (await fetch(`${http}/v1/xds/clients`)).json()) as { clients: any[] }).clients;
  return new Map(clients.flatMap((c) => {
    const envoy = envoyOf(c.peer, envoys);
    return envoy ? [[envoy.address, c.types.eds?.lastAckedVersion as string]] : [];
  }));
}

const row = (name: string, s: Spread, unit = ' ms') => [name, `${fmt(s.p50)}${unit}`, `${fmt(s.p99)}${unit}`, `${fmt(s.max)}${unit}`];

export const envoys: Scenario = {
  id: 'envoys',
  title: '6. Convergence of real Envoys',
  method: (p: Profile) =>
    `${p.envoys.count} real Envoys 1.40 (--concurrency 1), each in a network namespace of its own on one bridge, all of one group ` +
    `(node.id "${GROUP}", bootstrap from shardvoy's envoy-bootstrap endpoint), SotW ADS, xds.debounceMs ${DEBOUNCE_MS}. ` +
    `${p.envoys.changes} master changes one after another (a new master heartbeats with a higher epoch, straight into the registry). ` +
    "Per Envoy: ACK = the first poll of GET /v1/xds/clients (every 5 ms) that shows its EDS ACK of a new version; route = the start of " +
    'the first new connection through that Envoy (one every 10 ms per Envoy, from the runner) answered by the new master. ' +
    'p50/p99/max over the Envoys of one change; the table gives the median change. Times from the moment the heartbeat was recorded.',
  timeoutMs: (p) => 120_000 + p.envoys.count * 5_000 + p.envoys.changes * 15_000,
  async run({ profile, log, spawn, section }) {
    const fleet = new EnvoyFleet();
    const nodes: Array<{ port: number; close: () => void }> = [];
    try {
      const host = fleet.hostAddress;
      const config = {
        registry: { leaseSeconds: 3_600 },
        xds: { debounceMs: DEBOUNCE_MS },
        groups: [{ name: GROUP, database: 'default', shards: [{ name: 'shard0', listen: `0.0.0.0:${LISTEN_PORT}`, clusters: ['shard0-masters'] }] }],
      };
      const shardvoy = await spawn.shardvoy(config, host);
      const ids = ['fleet-a', 'fleet-b'];
      for (const id of ids) nodes.push(await idServer(id, host));
      const master = (n: number) => ({ id: ids[n % 2]!, address: `${host}:${nodes[n % 2]!.port}`, database: 'default', shard: 'shard0', role: 'master', epoch: n });
      await shardvoy.request('heartbeat', { bodies: [master(1)] }, 10_000);
      await fleet.start(profile.envoys.count, GROUP, shardvoy.info);
      for (const envoy of fleet.envoys) {
        if ((await routedAt(envoy, ids[1]!, Date.now() + 30_000)) === undefined) throw new Error(`Envoy ${envoy.index} never routed to the first master`);
      }
      log(`  ${fleet.envoys.length} Envoys routing`);

      const changes: Change[] = [];
      for (let n = 2; n < 2 + profile.envoys.changes; n++) {
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        const before = await edsAcks(shardvoy.info.http, fleet.envoys);
        const expected = master(n).id;
        const deadline = Date.now() + 10_000;
        const { t0 } = (await shardvoy.request('heartbeat', { bodies: [master(n)] }, 10_000)) as { t0: number };
        const [acks, routes] = await Promise.all([
          ackedAt(shardvoy.info.http, fleet.envoys, before, deadline),
          Promise.all(fleet.envoys.map((envoy) => routedAt(envoy, expected, deadline))),
        ]);
        const change: Change = {
          ackMs: [...acks.values()].map((at) => at - t0),
          routeMs: routes.filter((at): at is number => at !== undefined).map((at) => at - t0),
          missing: fleet.envoys.length - acks.size + routes.filter((at) => at === undefined).length,
        };
        changes.push(change);
        const a = spread(change.ackMs);
        const r = spread(change.routeMs);
        log(`  change ${n - 1}: ACK p50 ${fmt(a.p50)} p99 ${fmt(a.p99)} max ${fmt(a.max)} ms; route p50 ${fmt(r.p50)} p99 ${fmt(r.p99)} max ${fmt(r.max)} ms; missing ${change.missing}`);
      }
      const medianOf = (pick: (c: Change) => Spread): Spread => ({
        p50: median(changes.map((c) => pick(c).p50)),
        p99: median(changes.map((c) => pick(c).p99)),
        max: median(changes.map((c) => pick(c).max)),
      });
      const ack = medianOf((c) => spread(c.ackMs));
      const route = medianOf((c) => spread(c.routeMs));
      const rss = fleet.rssBytes();
      section.tables.push({
        headers: ['figure (median of the changes)', 'p50', 'p99', 'max'],
        rows: [
          row('change → shardvoy holds the ACK', ack),
          row('change → new connection reaches the new master', route),
          ['Envoy RSS', fmtBytes(median(rss)), fmtBytes(spread(rss).p99), fmtBytes(spread(rss).max)],
        ],
      });
      section.tables.push({
        headers: ['change', 'ACK p50 / p99 / max', 'route p50 / p99 / max', 'missing'],
        rows: changes.map((c, i) => {
          const a = spread(c.ackMs);
          const r = spread(c.routeMs);
          return [String(i + 1), `${fmt(a.p50)} / ${fmt(a.p99)} / ${fmt(a.max)} ms`, `${fmt(r.p50)} / ${fmt(r.p99)} / ${fmt(r.max)} ms`, String(c.missing)];
        }),
      });
      section.verdicts.push(atMost(`p99 change → ACK ≤ debounceMs + 100 ms (${profile.envoys.count} Envoys)`, ack.p99, DEBOUNCE_MS + 100, ' ms'));
      section.verdicts.push(atMost(`p99 change → routed ≤ debounceMs + 250 ms (${profile.envoys.count} Envoys)`, route.p99, DEBOUNCE_MS + 250, ' ms'));
      const missing = changes.reduce((sum, c) => sum + c.missing, 0);
      if (missing > 0) section.notes.push(`${missing} Envoy observations timed out (10 s) over all changes.`);
      section.notes.push(
        'The runner is also the client: it polls shardvoy and opens the probe connections on the same two cores as shardvoy and the Envoys, ' +
          'so the route figures include its own scheduling. ACK times are as seen by a 5 ms poll of the HTTP API.',
      );
    } finally {
      for (const node of nodes) node.close();
      await fleet.stop();
    }
  },
};
