/**
 * 6. Convergence of real Envoys: N Envoys (--concurrency 1) of one group, each in its own network
 * namespace, on one master change at a time, first on shardvoy and then on go-control-plane
 * serving shardvoy's snapshots. Per Envoy: the time until the server holds its ACK of the new
 * endpoints, and until a new connection through that Envoy reaches the new master.
 */
import net from 'node:net';
import { EnvoyFleet, type FleetEnvoy } from '../lib/envoy-fleet.js';
import type { Profile } from '../lib/profile.js';
import { atMost } from '../lib/report.js';
import { fmt, fmtBytes, median, spread, type Spread } from '../lib/stats.js';
import { nowAbs } from '../lib/process-stats.js';
import type { Child } from '../lib/ipc.js';
import type { GcpPeer, PeerSnapshot } from '../peers/go-control-plane/peer.js';
import type { Scenario, SectionDraft } from './scenario.js';

const GROUP = 'fleet';
const LISTEN_PORT = 10000;
const DEBOUNCE_MS = 10;

interface Change {
  /** From t0 until each Envoy's ACK was seen. */
  readonly ackMs: number[];
  /** From t0 until each Envoy's first connection to the new master. */
  readonly routeMs: number[];
  readonly missing: number;
  /** shardvoy only: from t0 until its cache began telling the streams (the debounce window and rebuild). */
  readonly publishMs?: number;
}

/** What a change started: its t0 and, for shardvoy, when the snapshot was published, on this process's clock. */
interface Started {
  readonly t0: number;
  readonly publishedAt?: number;
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

/** From now until a new connection through this Envoy lands on `expected`: the start time of that connection. */
async function routedAt(envoy: FleetEnvoy, expected: string, deadline: number): Promise<number | undefined> {
  while (nowAbs() < deadline) {
    const startedAt = nowAbs();
    if ((await whoAnswers(envoy.address, LISTEN_PORT)) === expected) return startedAt;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return undefined;
}

/**
 * What one xDS server says of each Envoy's EDS, by the Envoy's address: the version it last sent,
 * the one last ACKed, and when that ACK arrived by the server's own clock (shifted onto this one).
 */
type EdsView = () => Promise<Map<string, { readonly sent: string | undefined; readonly acked: string | undefined; readonly ackedAt: number | undefined }>>;

/** Polls `view` every 5 ms until every Envoy ACKed the version last sent to it, a new one: when each ACK arrived. */
async function ackedAt(view: EdsView, envoys: readonly FleetEnvoy[], before: ReadonlyMap<string, string | undefined>, deadline: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  while (seen.size < envoys.length && nowAbs() < deadline) {
    const states = await view();
    const now = nowAbs();
    for (const [address, eds] of states) {
      if (!seen.has(address) && eds.acked && eds.acked !== before.get(address) && eds.acked === eds.sent) seen.set(address, eds.ackedAt ?? now);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return seen;
}

/** The Envoy at `peer`: host:port, as grpc-js (with an "ipv4:" prefix) or Go shows it. */
function envoyOf(peer: string, envoys: readonly FleetEnvoy[]): FleetEnvoy | undefined {
  const host = peer.replace(/^ipv4:/, '').replace(/:\d+$/, '');
  return envoys.find((e) => e.address === host);
}

interface ServerEds {
  readonly peer: string;
  readonly sent?: string;
  readonly acked?: string;
  readonly ackedAt?: number;
}

/** shardvoy's view: its streams' status (as GET /v1/xds/clients shows it) and an observer's ACK times, from its bench process. */
function shardvoyEds(shardvoy: Child<unknown>, envoys: readonly FleetEnvoy[]): EdsView {
  return async () => byEnvoy(await shardvoy.request<ServerEds[]>('eds', {}, 5_000), envoys, 0);
}

/** go-control-plane's view: its stream callbacks' record (the peer's `eds` request). */
function peerEds(peer: GcpPeer, envoys: readonly FleetEnvoy[], clockOffsetMs: () => number): EdsView {
  return async () => byEnvoy(await peer.eds(), envoys, clockOffsetMs());
}

function byEnvoy(states: readonly ServerEds[], envoys: readonly FleetEnvoy[], clockOffsetMs: number): Awaited<ReturnType<EdsView>> {
  return new Map(
    states.flatMap((s) => {
      const envoy = envoyOf(s.peer, envoys);
      const ackedAt = s.ackedAt ? s.ackedAt - clockOffsetMs : undefined;
      return envoy ? [[envoy.address, { sent: s.sent || undefined, acked: s.acked || undefined, ackedAt }]] : [];
    }),
  );
}

/**
 * One master change after another: `change(n)` makes change n and resolves once it is under way
 * (for shardvoy, published); every Envoy must then ACK it (as `view` shows) and route to master
 * `expected(n)`; `after(n)` runs once that is measured.
 */
async function converge(
  fleet: EnvoyFleet,
  view: EdsView,
  count: number,
  change: (n: number) => Promise<Started>,
  expected: (n: number) => string,
  log: (line: string) => void,
  after: (n: number) => Promise<void> = async () => undefined,
): Promise<Change[]> {
  const changes: Change[] = [];
  for (let n = 2; n < 2 + count; n++) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const before = new Map([...(await view())].map(([address, eds]) => [address, eds.acked]));
    const deadline = nowAbs() + 10_000;
    const { t0, publishedAt } = await change(n);
    const [acks, routes] = await Promise.all([
      ackedAt(view, fleet.envoys, before, deadline),
      Promise.all(fleet.envoys.map((envoy) => routedAt(envoy, expected(n), deadline))),
    ]);
    const result: Change = {
      ackMs: [...acks.values()].map((at) => at - t0),
      routeMs: routes.filter((at): at is number => at !== undefined).map((at) => at - t0),
      missing: fleet.envoys.length - acks.size + routes.filter((at) => at === undefined).length,
      ...(publishedAt === undefined ? {} : { publishMs: publishedAt - t0 }),
    };
    changes.push(result);
    const a = spread(result.ackMs);
    const r = spread(result.routeMs);
    log(`    change ${n - 1}: ACK p50 ${fmt(a.p50)} p99 ${fmt(a.p99)} max ${fmt(a.max)} ms; route p50 ${fmt(r.p50)} p99 ${fmt(r.p99)} max ${fmt(r.max)} ms; missing ${result.missing}`);
    await after(n);
  }
  return changes;
}

async function routingTo(fleet: EnvoyFleet, id: string): Promise<void> {
  for (const envoy of fleet.envoys) {
    if ((await routedAt(envoy, id, nowAbs() + 30_000)) === undefined) throw new Error(`Envoy ${envoy.index} never routed to the first master`);
  }
}

const medianOf = (changes: readonly Change[], pick: (c: Change) => Spread): Spread => ({
  p50: median(changes.map((c) => pick(c).p50)),
  p99: median(changes.map((c) => pick(c).p99)),
  max: median(changes.map((c) => pick(c).max)),
});

const row = (s: Spread, unit = ' ms') => [`${fmt(s.p50)}${unit}`, `${fmt(s.p99)}${unit}`, `${fmt(s.max)}${unit}`];

export const envoys: Scenario = {
  id: 'envoys',
  title: '6. Convergence of real Envoys',
  method: (p: Profile) =>
    `${p.envoys.count} real Envoys 1.40 (--concurrency 1), each in a network namespace of its own on one bridge, all of one group ` +
    `(node.id "${GROUP}", bootstrap from shardvoy's envoy-bootstrap endpoint), SotW ADS, first on shardvoy (xds.debounceMs ${DEBOUNCE_MS}), ` +
    'then, restarted on the same namespaces with the xDS address changed, on go-control-plane (its SotW server over SnapshotCache with ADS on, ' +
    `bench/peers/go-control-plane). ${p.envoys.changes} master changes one after another: for shardvoy a new master heartbeats with a higher ` +
    "epoch, straight into the registry (t0 = just before); for go-control-plane a `change` carrying shardvoy's snapshot after that same change " +
    "(listeners, clusters and load assignments; t0 = before it decodes them, on Go's clock shifted onto the bench's by a ping). " +
    "Per Envoy: ACK = when the server received its EDS ACK of the version last sent to it, a new one, by the server's own record " +
    "(shardvoy: an observer of its streams in its bench process; go-control-plane: its stream callbacks), read every 5 ms; route = the start of the first new connection through that Envoy " +
    '(one every 10 ms per Envoy, from the runner) answered by the new master. p50/p99/max over the Envoys of one change; the tables give the median change.',
  timeoutMs: (p) => 150_000 + p.envoys.count * 10_000 + p.envoys.changes * 30_000,
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
      const snapshotOf = async () => {
        const snapshot = await shardvoy.request<PeerSnapshot | null>('snapshotResources', { group: GROUP }, 10_000);
        if (!snapshot) throw new Error(`shardvoy has no snapshot of ${GROUP}`);
        return snapshot;
      };
      await shardvoy.request('heartbeat', { bodies: [master(1)] }, 10_000);
      await fleet.start(profile.envoys.count, GROUP, shardvoy.info);
      await routingTo(fleet, master(1).id);
      log(`  shardvoy: ${fleet.envoys.length} Envoys routing`);
      // What go-control-plane will serve: shardvoy's snapshot before the changes, then after each.
      const snapshots = new Map<number, PeerSnapshot>([[1, await snapshotOf()]]);
      const ours = await converge(
        fleet,
        shardvoyEds(shardvoy, fleet.envoys),
        profile.envoys.changes,
        async (n) => {
          // Resolves once the change is published: no Envoy can ACK or route to it before that.
          const r = await shardvoy.request<{ t0: number; publishAt?: number }>('heartbeat', { bodies: [master(n)], awaitPublish: { group: GROUP, timeoutMs: 5_000 } }, 10_000);
          if (r.publishAt === undefined) throw new Error(`change ${n - 1} was not published within 5 s`);
          return { t0: r.t0, publishedAt: r.publishAt };
        },
        (n) => master(n).id,
        log,
        async (n) => void snapshots.set(n, await snapshotOf()),
      );
      const oursRss = fleet.rssBytes();
      await fleet.stopEnvoys();

      const started = await spawn.gcp(shardvoy, GROUP, { fixture: snapshots.get(1)!, listen: `${host}:0`, trackEds: true });
      let theirs: Change[] | undefined;
      let theirsRss: number[] = [];
      const skews: number[] = [];
      if (started.peer) {
        const gcp = started.peer;
        log(`  go-control-plane peer: ${gcp.info.library}, ${gcp.info.go}, GOMAXPROCS ${gcp.info.gomaxprocs}, on ${gcp.info.grpc}`);
        await fleet.start(profile.envoys.count, GROUP, shardvoy.info, gcp.info.grpc);
        await routingTo(fleet, master(1).id);
        log(`  go-control-plane: ${fleet.envoys.length} Envoys routing`);
        let offsetMs = (await gcp.clockOffsetMs(3)).offsetMs;
        theirs = await converge(
          fleet,
          peerEds(gcp, fleet.envoys, () => offsetMs),
          profile.envoys.changes,
          async (n) => {
            offsetMs = (await gcp.clockOffsetMs(3)).offsetMs;
            skews.push(offsetMs);
            const { t0 } = await gcp.request<{ t0: number }>('change', snapshots.get(n)!, 10_000);
            return { t0: t0 - offsetMs };
          },
          (n) => master(n).id,
          log,
        );
        theirsRss = fleet.rssBytes();
      } else {
        log(`  go-control-plane peer not run: ${started.notRun}`);
      }
      report(section, profile, { ours, oursRss, theirs, theirsRss, notRun: started.notRun });
      if (started.peer) {
        section.notes.push(
          `go-control-plane peer: ${started.peer.info.library}, built with ${started.peer.info.go}, GOMAXPROCS ${started.peer.info.gomaxprocs}; ` +
            `its clock and the bench's differed by ${fmt(median(skews))} ms (median; corrected).`,
        );
      }
    } finally {
      for (const node of nodes) node.close();
      await fleet.stop();
    }
  },
};

interface Measured {
  readonly ours: readonly Change[];
  readonly oursRss: readonly number[];
  readonly theirs: readonly Change[] | undefined;
  readonly theirsRss: readonly number[];
  readonly notRun: string | undefined;
}

function report(section: SectionDraft, profile: Profile, m: Measured): void {
  const ack = (changes: readonly Change[]) => medianOf(changes, (c) => spread(c.ackMs));
  const route = (changes: readonly Change[]) => medianOf(changes, (c) => spread(c.routeMs));
  const versus = (ours: Spread, theirs: Spread | undefined) => (theirs ? `${fmt(ours.p99 / theirs.p99)}×` : `not run: ${m.notRun}`);
  const rssRow = (server: string, rss: readonly number[]) => [`Envoy RSS`, server, fmtBytes(median(rss)), fmtBytes(spread(rss).p99), fmtBytes(spread(rss).max), ''];
  // shardvoy's times less its debounce window and rebuild: from its publish, as the peer's start
  // when it is handed the snapshot.
  const fromPublish = m.ours.map((c) => ({ ...c, ackMs: c.ackMs.map((t) => t - c.publishMs!), routeMs: c.routeMs.map((t) => t - c.publishMs!) }));
  const rows: string[][] = [];
  for (const [figure, pick] of [
    ['change → the server holds the ACK', ack],
    ['change → new connection reaches the new master', route],
  ] as const) {
    const ours = pick(m.ours);
    const published = pick(fromPublish);
    const theirs = m.theirs ? pick(m.theirs) : undefined;
    rows.push([figure, 'shardvoy', ...row(ours), versus(ours, theirs)]);
    rows.push([figure, 'shardvoy, from its publish', ...row(published), versus(published, theirs)]);
    rows.push([figure, 'go-control-plane', ...(theirs ? row(theirs) : ['', '', '']), theirs ? '1×' : `not run: ${m.notRun}`]);
  }
  rows.push(['change → published (debounce window and rebuild)', 'shardvoy', ...row(spread(m.ours.map((c) => c.publishMs!))), '']);
  rows.push(rssRow('shardvoy', m.oursRss));
  if (m.theirs) rows.push(rssRow('go-control-plane', m.theirsRss));
  section.tables.push({ headers: ['figure (median of the changes)', 'server', 'p50', 'p99', 'max', 'p99 / go-control-plane'], rows });
  const each = (server: string, changes: readonly Change[]) =>
    changes.map((c, i) => {
      const a = spread(c.ackMs);
      const r = spread(c.routeMs);
      return [server, String(i + 1), `${fmt(a.p50)} / ${fmt(a.p99)} / ${fmt(a.max)} ms`, `${fmt(r.p50)} / ${fmt(r.p99)} / ${fmt(r.max)} ms`, String(c.missing)];
    });
  section.tables.push({
    headers: ['server', 'change', 'ACK p50 / p99 / max', 'route p50 / p99 / max', 'missing'],
    rows: [...each('shardvoy', m.ours), ...(m.theirs ? each('go-control-plane', m.theirs) : [])],
  });
  const ours = { ack: ack(m.ours), route: route(m.ours) };
  section.verdicts.push(atMost(`p99 change → ACK ≤ debounceMs + 100 ms (${profile.envoys.count} Envoys)`, ours.ack.p99, DEBOUNCE_MS + 100, ' ms'));
  section.verdicts.push(atMost(`p99 change → routed ≤ debounceMs + 250 ms (${profile.envoys.count} Envoys)`, ours.route.p99, DEBOUNCE_MS + 250, ' ms'));
  const missing = [...m.ours, ...(m.theirs ?? [])].reduce((sum, c) => sum + c.missing, 0);
  if (missing > 0) section.notes.push(`${missing} Envoy observations timed out (10 s) over all changes.`);
  section.notes.push(
    `shardvoy's times include its debounce window (xds.debounceMs ${DEBOUNCE_MS}: a heartbeat's rebuild waits that long for others to join it) ` +
      "and its rebuild; go-control-plane's start when it is handed the finished snapshot, so they hold neither. The rows \"from its publish\" " +
      "take shardvoy's from the moment its cache began telling the streams (the bench's first watcher of the cache), the same point as the peer's.",
    'The runner is also the client: it polls the server and opens the probe connections on the same two cores as the server and the Envoys, ' +
      'so the figures include its own scheduling.',
  );
}
