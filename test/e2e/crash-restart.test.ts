/**
 * kill -9 in the middle of a burst of heartbeats, then a restart: the state file is whole (the
 * old one or the new one, never half), every node is back, and an Envoy that reconnects with
 * the versions it held is not sent a smaller set of endpoints. The restart loaded its state, so
 * it skips the warm-up: its answers are awaited, and their content asserted.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLUSTER, ENDPOINT, LISTENER } from '../../src/envoy-api/type-urls.js';
import { loadState } from '../../src/registry/state-file.js';
import { runCli, type CliRun } from '../support/cli-process.js';
import { RawSotwStream, type SotwResponse } from '../support/raw-xds.js';

const NODES = 60;
/** The ids (endpoint hostnames) of every endpoint of an EDS response, sorted. */
const endpointIds = (response: SotwResponse): string[] =>
  response.decoded.flatMap((cla) => (cla.endpoints ?? []).flatMap((l: any) => (l.lb_endpoints ?? []).map((e: any) => String(e.endpoint.hostname)))).sort();
const node = (i: number) => ({ id: `n${i}`, address: `10.0.${Math.floor(i / 200)}.${(i % 200) + 1}:9000`, database: 'default', shard: 'shard0', role: i === 0 ? 'master' : 'replica', epoch: 1 });

describe('crash and restart', () => {
  const runs: CliRun[] = [];
  afterEach(() => {
    for (const run of runs.splice(0)) if (run.child.exitCode === null) run.child.kill('SIGKILL');
  });

  it('survives kill -9 during a burst: whole state file, every node back, no smaller endpoint set', { timeout: 90_000 }, async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-crash-'));
    const stateFile = path.join(dir, 'state.json');
    const config = path.join(dir, 'config.yaml');
    writeFileSync(
      config,
      [
        'registry:',
        '  leaseSeconds: 10',
        '  warmupSeconds: 1',
        `  stateFile: ${stateFile}`,
        'groups:',
        '  - name: edge',
        '    shards:',
        '      - { name: shard0, listen: "127.0.0.1:10000", clusters: [shard0-masters, shard0-replicas] }',
      ].join('\n'),
    );
    const serve = () => {
      const run = runCli(['serve', '--config', config, '--http', '127.0.0.1:0', '--grpc', '127.0.0.1:0']);
      runs.push(run);
      return run;
    };
    const addressOf = async (run: CliRun, service: string) => (await run.waitForLine((l) => l.service === service)).address as string;

    const original = serve();
    const http = await addressOf(original, 'http');
    const grpc = await addressOf(original, 'grpc');
    const beat = (body: object) => fetch(`http://${http}/v1/heartbeat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    for (let i = 0; i < NODES; i++) expect((await beat(node(i))).status).toBe(200);

    const envoy = new RawSotwStream(grpc);
    envoy.request({ type_url: CLUSTER, node: { id: 'edge' } });
    const cds = await envoy.next(5_000);
    envoy.request({ type_url: ENDPOINT, resource_names: ['shard0-masters', 'shard0-replicas'] });
    envoy.ack(cds);
    const eds = await envoy.next();
    expect(eds.decoded.map((cla) => cla.endpoints?.[0]?.lb_endpoints?.length ?? 0).reduce((a, b) => a + b, 0)).toBe(NODES);
    envoy.request({ type_url: LISTENER });
    const lds = await envoy.next();
    envoy.close();

    await new Promise((r) => setTimeout(r, 1_200)); // the state file has caught up
    // A burst: every node again plus newcomers, killed in the middle.
    let sent = 0;
    const burst = (async () => {
      for (let round = 0; round < 50; round++) {
        await Promise.all(Array.from({ length: 20 }, (_, k) => beat(node(NODES + round * 20 + k)).then(() => sent++, () => undefined)));
      }
    })();
    while (sent < 200) await new Promise((r) => setTimeout(r, 5));
    original.child.kill('SIGKILL');
    await original.exited;
    await burst;

    const saved = loadState(stateFile, Date.now());
    expect(saved.kind).toBe('loaded');
    const savedIds = new Set((saved as Extract<typeof saved, { kind: 'loaded' }>).state.nodes.map((n) => n.id));
    for (let i = 0; i < NODES; i++) expect(savedIds.has(`n${i}`)).toBe(true);

    // The restart's configuration asks for a minute of warm-up: a start that loaded its state
    // file must skip it, so everything below is answered within seconds or not at all.
    writeFileSync(config, readFileSync(config, 'utf8').replace('warmupSeconds: 1', 'warmupSeconds: 60'));
    const again = serve();
    const http2 = await addressOf(again, 'http');
    const grpc2 = await addressOf(again, 'grpc');
    expect((await fetch(`http://${http2}/readyz`)).status).toBe(200);
    const nodes = (await (await fetch(`http://${http2}/v1/nodes`)).json()).nodes.map((n: any) => n.id);
    expect([...nodes].sort()).toEqual([...savedIds].sort());

    // Reconnecting with what it held.
    const back = new RawSotwStream(grpc2);
    back.request({ type_url: CLUSTER, node: { id: 'edge' }, version_info: cds.version_info });
    back.request({ type_url: ENDPOINT, resource_names: ['shard0-masters', 'shard0-replicas'], version_info: eds.version_info });
    back.request({ type_url: LISTENER, version_info: lds.version_info });

    // A new Envoy is answered at once, with exactly the saved nodes, under the same cluster and
    // listener versions as before the crash (versions are content hashes of the same registry).
    const fresh = new RawSotwStream(grpc2);
    fresh.request({ type_url: CLUSTER, node: { id: 'edge' } });
    const cdsAgain = await fresh.next(5_000);
    expect([cdsAgain.type_url, cdsAgain.version_info]).toEqual([CLUSTER, cds.version_info]);
    fresh.request({ type_url: ENDPOINT, resource_names: ['shard0-masters', 'shard0-replicas'] });
    fresh.ack(cdsAgain);
    const edsAgain = await fresh.next(5_000);
    expect(edsAgain.type_url).toBe(ENDPOINT);
    expect(endpointIds(edsAgain)).toEqual([...savedIds].sort());
    fresh.request({ type_url: LISTENER });
    const ldsAgain = await fresh.next(5_000);
    expect([ldsAgain.type_url, ldsAgain.version_info]).toEqual([LISTENER, lds.version_info]);
    fresh.close();

    // The reconnected stream: a node registering now must reach it (it is served, not held), and
    // nothing it was sent on the way ever held fewer nodes than it had before the crash.
    expect((await fetch(`http://${http2}/v1/heartbeat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(node(9_999)) })).status).toBe(200);
    let latest: SotwResponse;
    do {
      latest = await back.next(5_000).catch((error) => {
        throw new Error(`${error.message}; received ${JSON.stringify(back.received.map((r) => [r.type_url, r.version_info, r.names]))}`);
      });
      back.ack(latest, latest.type_url === ENDPOINT ? ['shard0-masters', 'shard0-replicas'] : []);
    } while (latest.type_url !== ENDPOINT || !endpointIds(latest).includes('n9999'));
    expect(endpointIds(latest)).toEqual([...savedIds, 'n9999'].sort());
    for (const response of back.received.filter((r) => r.type_url === ENDPOINT)) {
      const ids = endpointIds(response);
      for (let i = 0; i < NODES; i++) expect(ids).toContain(`n${i}`);
    }
    expect(back.received.filter((r) => r.type_url !== ENDPOINT)).toEqual([]); // clusters and listeners unchanged
    expect(back.violations).toEqual([]);
    expect(fresh.violations).toEqual([]);
    back.close();
    again.child.kill('SIGTERM');
    expect(await again.exited).toBe(0);
  });
});
