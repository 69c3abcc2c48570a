/**
 * The operator commands as an operator runs them: the CLI in a process of its own against a real
 * shardvoy process with auth tokens, a known registry (shard0: master dkv-a1 epoch 3, fenced
 * master dkv-a0 epoch 2, replica dkv-a2; shard1: replica dkv-b1 only) and an Envoy-like xDS
 * client. The tests run in order: the reads first, then what changes the registry.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { runOperator } from '../../src/operator/command.js';
import { parseOperatorArgs, type OperatorCommand } from '../../src/operator/flags.js';
import { sortKeys } from '../../src/operator/render.js';
import { EnvoyLikeClient } from '../support/ads-client.js';
import { freePortRun } from '../support/free-ports.js';
import { eventually } from '../support/harness.js';
import { startShardvoyProcess, type ShardvoyProcess } from '../support/shardvoy-process.js';
import { runOperatorCli, type OperatorRun } from './operator-cli.js';

/** Each test spawns a few CLIs (about a second each through tsx, more on a busy machine). */
const PROCESS_TIMEOUT_MS = 60_000;
const READ = 'r3ad-token';
const ADMIN = 'adm1n-token';
const CONFIG = {
  registry: { leaseSeconds: 120, warmupSeconds: 0 },
  auth: { readToken: READ, adminToken: ADMIN },
  groups: [
    {
      name: 'local-group',
      database: 'default',
      shards: [
        { name: 'shard0', listen: '127.0.0.1:10000', clusters: ['shard0-masters', 'shard0-replicas'] },
        { name: 'shard1', listen: '127.0.0.1:10010', clusters: ['shard1-masters', 'shard1-replicas'] },
      ],
    },
  ],
};
const NODES = [
  { id: 'dkv-a1', address: '10.0.0.5:9001', database: 'default', shard: 'shard0', role: 'master', epoch: 3, dc: 'dc1' },
  { id: 'dkv-a0', address: '10.0.0.4:9001', database: 'default', shard: 'shard0', role: 'master', epoch: 2 },
  { id: 'dkv-a2', address: '10.0.0.6:9001', database: 'default', shard: 'shard0', role: 'replica', epoch: 3, labels: { rack: 'r1' } },
  { id: 'dkv-b1', address: '10.0.0.7:9001', database: 'default', shard: 'shard1', role: 'replica' },
];

let shardvoy: ShardvoyProcess;
const envoys: EnvoyLikeClient[] = [];
const running: OperatorRun[] = [];

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function start(args: string[], env: Record<string, string> = {}): OperatorRun {
  const run = runOperatorCli(args, { SHARDVOY_SERVER: shardvoy.baseUrl, SHARDVOY_TOKEN: ADMIN, ...env });
  running.push(run);
  return run;
}

async function op(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  const run = start(args, env);
  const code = await run.exited;
  return { code, stdout: run.stdout, stderr: run.stderr };
}

/**
 * The same command run inside the test's process, against the same server: for the variants of
 * an output the child-process runs already cover (wide, yaml), so the suite spawns fewer CLIs.
 */
async function inProcess(args: string[]): Promise<Ran> {
  const [command, ...rest] = args;
  const invocation = parseOperatorArgs(command as OperatorCommand, rest, { SHARDVOY_SERVER: shardvoy.baseUrl, SHARDVOY_TOKEN: ADMIN });
  if (invocation.help) throw new Error('help');
  let stdout = '';
  let stderr = '';
  const code = await runOperator(invocation.options, { out: (t) => (stdout += t), err: (l) => (stderr += `${l}\n`), tty: false, signal: new AbortController().signal });
  return { code, stdout, stderr };
}

async function api(path: string, token = READ): Promise<any> {
  const response = await fetch(`${shardvoy.baseUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
  expect(response.status).toBe(200);
  return response.json();
}

const endpoints = async () => (await api('/clusters')).clusters.flatMap((c: any) => c.endpoints);

/** Ages (0s..59s) in one form, the columns kept where they were. */
const sameAges = (text: string) => text.replace(/\b\d{1,2}s( +|$)/gm, (m) => 'Ns'.padEnd(m.length));

/** A table's cells, split where two or more spaces separate columns. */
const cells = (text: string) => text.trimEnd().split('\n').map((line) => line.split(/ {2,}/));

/** Every row's columns start where the header's do. */
function expectAligned(text: string): void {
  const [header, ...rows] = text.trimEnd().split('\n');
  const starts = [...header!.matchAll(/(?:^|  )(\S)/g)].map((m) => m.index! + m[0].length - 1);
  for (const row of rows) for (const start of starts.slice(1)) expect(row.slice(start - 2, start), row).toBe('  ');
}

const withoutAges = (value: unknown): unknown =>
  JSON.parse(JSON.stringify(value, (key, v) => (key === 'lastHeartbeatAgeMs' ? undefined : v)));

const synced = async (nodeId: string) =>
  eventually(async () => {
    const client = (await api('/v1/xds/clients')).clients.find((c: any) => c.nodeId === nodeId);
    expect(Object.values(client?.types ?? {}).map((t: any) => t.configStatus)).toEqual(['SYNCED', 'SYNCED', 'SYNCED']);
  }, 10_000, 50);

beforeAll(async () => {
  shardvoy = await startShardvoyProcess({ config: CONFIG });
  for (const node of NODES) expect((await shardvoy.heartbeat(node)).status).toBe(200);
  await eventually(async () => expect((await endpoints()).map((e: any) => e.health).sort()).toEqual(['fenced', 'healthy', 'healthy', 'healthy']), 10_000, 50);
  envoys.push(new EnvoyLikeClient(shardvoy.grpcAddress, { nodeId: 'envoy-1', nodeCluster: 'local-group' }));
  await synced('envoy-1');
}, 60_000);

afterAll(async () => {
  for (const run of running) if (run.child.exitCode === null) run.child.kill('SIGKILL');
  for (const envoy of envoys) envoy.close();
  await shardvoy?.stop();
});

const STATUS = (server: string) => `shardvoy ${server}/: READY
PROBLEMS (1):
  shard default/shard1: no routable master (no master registered)
self-preservation: off
shards without a master: 1 (default/shard1)
fenced nodes: 1: dkv-a0 (default/shard0, epoch 2)
Envoys: 1 connected, 1 SYNCED

SHARD           MASTER  HEALTH   EPOCH  ADDRESS        REPLICAS
default/shard1  NONE    -        -      -              1/1
default/shard0  dkv-a1  healthy  3      10.0.0.5:9001  1/1

GROUP        ENVOYS  SYNCED  STALE  NOT_SENT  ERROR
local-group  1       1       0      0         0
`;

const NODES_TABLE = `ID      DATABASE  SHARD   ROLE     EPOCH  STATUS  HEALTH   ADDRESS        AGE  MAINTENANCE
dkv-a0  default   shard0  master   2      active  fenced   10.0.0.4:9001  Ns   -
dkv-a1  default   shard0  master   3      active  healthy  10.0.0.5:9001  Ns   -
dkv-a2  default   shard0  replica  3      active  healthy  10.0.0.6:9001  Ns   -
dkv-b1  default   shard1  replica  0      active  healthy  10.0.0.7:9001  Ns   -
`;

describe('shardvoy status, nodes, clients, events', { timeout: PROCESS_TIMEOUT_MS }, () => {
  it('status: the verdict first, then shards (no master first) and Envoys by group, as a table and as stable JSON and YAML', async () => {
    const [table, wide, json, yaml] = await Promise.all([op(['status']), inProcess(['status', '-o', 'wide']), op(['status', '-o', 'json']), inProcess(['status', '-o', 'yaml'])]);
    expect(table).toEqual({ code: 0, stdout: STATUS(shardvoy.baseUrl), stderr: '' });
    const wideLines = wide.stdout.split('\n');
    expect(wideLines[0]).toMatch(/^shardvoy .*: READY \(routing version \S+\)$/);
    expect(wideLines.find((l) => l.startsWith('SHARD'))).toBe('SHARD           MASTER  HEALTH   EPOCH  ADDRESS        REPLICAS  AGE  REPLICA_IDS  FENCED');
    expect(wideLines.find((l) => l.startsWith('default/shard0'))).toMatch(/^default\/shard0  dkv-a1  healthy  3 +10\.0\.0\.5:9001  1\/1 +\d+s +dkv-a2 +dkv-a0$/);

    const report = JSON.parse(json.stdout);
    expect(json.stdout).toBe(`${JSON.stringify(sortKeys(report), null, 2)}\n`);
    expect(report).toEqual({
      server: `${shardvoy.baseUrl}/`,
      ready: true,
      version: expect.any(String),
      problems: ['shard default/shard1: no routable master (no master registered)'],
      selfPreservation: { engaged: false, preservedNodes: [] },
      shards: [
        { database: 'default', shard: 'shard1', masters: [], fenced: [], replicas: { routable: 1, total: 1, ids: ['dkv-b1'] } },
        {
          database: 'default',
          shard: 'shard0',
          masters: [{ id: 'dkv-a1', address: '10.0.0.5:9001', epoch: 3, health: 'healthy', lastHeartbeatAgeMs: expect.any(Number) }],
          fenced: [{ id: 'dkv-a0', role: 'master', epoch: 2 }],
          replicas: { routable: 1, total: 1, ids: ['dkv-a2'] },
        },
      ],
      envoys: {
        total: 1,
        byStatus: { SYNCED: 1, STALE: 0, NOT_SENT: 0, ERROR: 0 },
        groups: [{ group: 'local-group', envoys: 1, byStatus: { SYNCED: 1, STALE: 0, NOT_SENT: 0, ERROR: 0 } }],
      },
    });
    expect(withoutAges(parseYaml(yaml.stdout))).toEqual(withoutAges(report));
  });

  it('nodes: one row per node by shard, role and id, with its health; JSON is the API\'s nodes with their verdict', async () => {
    const [table, wide, json, yaml] = await Promise.all([op(['nodes']), inProcess(['nodes', '-o', 'wide']), op(['nodes', '-o', 'json']), inProcess(['nodes', '-o', 'yaml'])]);
    expect(table.code).toBe(0);
    expect(sameAges(table.stdout)).toBe(NODES_TABLE);
    expectAligned(wide.stdout);
    expect(cells(wide.stdout)[0]).toEqual(['ID', 'DATABASE', 'SHARD', 'ROLE', 'EPOCH', 'STATUS', 'HEALTH', 'ADDRESS', 'AGE', 'MAINTENANCE', 'DC', 'ROUTED', 'PRESERVED', 'LABELS', 'FIRST_SEEN', 'LAST_HEARTBEAT']);
    expect(cells(wide.stdout)[3]!.slice(10, 14)).toEqual(['-', 'yes', 'no', 'rack=r1']);

    const answer = JSON.parse(json.stdout);
    expect(json.stdout).toBe(`${JSON.stringify(sortKeys(answer), null, 2)}\n`);
    const stored = new Map<string, any>((await api('/v1/nodes')).nodes.map((n: any) => [n.id, n]));
    expect(answer.nodes.map((n: any) => n.id)).toEqual(['dkv-a0', 'dkv-a1', 'dkv-a2', 'dkv-b1']);
    for (const node of answer.nodes) {
      const { health, routed, preserved, lastHeartbeatAgeMs, ...asStored } = node;
      expect(asStored).toEqual(stored.get(node.id));
      expect({ health, routed, preserved, age: typeof lastHeartbeatAgeMs }).toEqual({
        health: node.id === 'dkv-a0' ? 'fenced' : 'healthy',
        routed: node.id !== 'dkv-a0',
        preserved: false,
        age: 'number',
      });
    }
    expect(withoutAges(parseYaml(yaml.stdout))).toEqual(withoutAges(answer));
  });

  it('clients: per Envoy its status per type, Istio proxy-status style; JSON is the API\'s', async () => {
    const [table, wide, json, yaml] = await Promise.all([op(['clients']), inProcess(['clients', '-o', 'wide']), op(['clients', '-o', 'json']), inProcess(['clients', '-o', 'yaml'])]);
    expect(table.code).toBe(0);
    expectAligned(table.stdout);
    expect(cells(table.stdout)).toEqual([
      ['NODE', 'GROUP', 'PROTOCOL', 'STATUS', 'CDS', 'EDS', 'LDS', 'RDS', 'PEER', 'AGE'],
      ['envoy-1', 'local-group', 'sotw', 'SYNCED', 'SYNCED', 'SYNCED', 'SYNCED', '-', expect.stringMatching(/^127\.0\.0\.1:\d+$/), expect.stringMatching(/^\d+s$/)],
    ]);
    expect(cells(wide.stdout)[0]!.slice(10)).toEqual(['STREAM', 'VERSIONS', 'NACK']);
    const answer = JSON.parse(json.stdout);
    expect(answer).toEqual(await api('/v1/xds/clients'));
    expect(json.stdout).toBe(`${JSON.stringify(sortKeys(answer), null, 2)}\n`);
    expect(parseYaml(yaml.stdout)).toEqual(answer);
  });

  it('events: the retained events, oldest first; JSON is the API\'s', async () => {
    const [table, json, yaml, since] = await Promise.all([op(['events']), op(['events', '-o', 'json']), inProcess(['events', '-o', 'yaml']), inProcess(['events', '--since', '2', '-o', 'json'])]);
    expect(table.code).toBe(0);
    expectAligned(table.stdout);
    const rows = cells(table.stdout);
    expect(rows[0]).toEqual(['ID', 'AGE', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE']);
    expect(rows.slice(1).map((r) => [r[0], r[2], r[3], r[4]])).toEqual([
      ['1', 'Normal', 'NodeRegistered', 'Node/dkv-a1'],
      ['2', 'Normal', 'MasterChanged', 'Shard/default/shard0'],
      ['3', 'Normal', 'NodeRegistered', 'Node/dkv-a0'],
      ['4', 'Normal', 'NodeRegistered', 'Node/dkv-a2'],
      ['5', 'Normal', 'NodeRegistered', 'Node/dkv-b1'],
    ]);
    expect(rows[2]![5]).toBe('shard default/shard0 master: dkv-a1 (epoch 3)');
    const answer = JSON.parse(json.stdout);
    expect(answer).toEqual(await api('/v1/events'));
    expect(parseYaml(yaml.stdout)).toEqual(answer);
    expect(JSON.parse(since.stdout).events.map((e: any) => e.id)).toEqual([3, 4, 5]);
  });

  it('-w: a new rendering after a heartbeat, read from the stream (table frames and JSON lines)', async () => {
    const table = start(['nodes', '-w']);
    const json = start(['status', '-w', '-o', 'json']);
    const frames = () => table.stdout.split(/^# /m).filter((f) => f !== '');
    const lines = () => json.stdout.split('\n').filter((l) => l !== '');
    await eventually(() => {
      expect(frames()).toHaveLength(1);
      expect(lines()).toHaveLength(1);
    }, 45_000, 50);
    expect(frames()[0]).toMatch(/^\S+: start\nID {6}DATABASE/);
    expect(JSON.parse(lines()[0]!).shards.map((s: any) => s.masters.length)).toEqual([0, 1]);

    expect((await shardvoy.heartbeat({ id: 'dkv-b0', address: '10.0.0.8:9001', database: 'default', shard: 'shard1', role: 'master' })).status).toBe(200);
    await eventually(() => {
      expect(frames().length).toBeGreaterThanOrEqual(2);
      expect(lines().length).toBeGreaterThanOrEqual(2);
    }, 10_000, 50);
    expect(frames()[1]).toMatch(/^\S+: event \d+ NodeRegistered Node\/dkv-b0/);
    expect(frames()[1]).toMatch(/^dkv-b0 +default +shard1 +master +0 +active +healthy /m);
    const latest = JSON.parse(lines().at(-1)!);
    expect(latest.problems).toEqual([]);
    expect(latest.shards.map((s: any) => s.masters.map((m: any) => m.id))).toEqual([['dkv-a1'], ['dkv-b0']]);
    table.child.kill('SIGTERM');
    json.child.kill('SIGTERM');
    expect(await Promise.all([table.exited, json.exited])).toEqual([0, 0]);
    expect(table.stderr + json.stderr).toBe('');
  }, 90_000);
});

describe('shardvoy drain, undrain, forget, check', { timeout: PROCESS_TIMEOUT_MS }, () => {
  it('drain and undrain put a node in maintenance and take it out, as /clusters shows', async () => {
    const drained = await op(['drain', 'dkv-a2', '--reason', 'disk swap']);
    expect(drained).toEqual({ code: 0, stdout: 'node dkv-a2 in maintenance (disk swap): Envoy gets it as DRAINING until shardvoy undrain dkv-a2\n', stderr: '' });
    const a2 = async () => (await endpoints()).find((e: any) => e.id === 'dkv-a2');
    // /clusters shows the registry as of the next rebuild, a few milliseconds on.
    await eventually(async () => expect(await a2()).toMatchObject({ health: 'draining', maintenance: { reason: 'disk swap' } }), 5_000, 20);

    const json = await inProcess(['undrain', 'dkv-a2', '-o', 'json']);
    expect(JSON.parse(json.stdout)).toEqual({ id: 'dkv-a2', maintenance: null, wasInMaintenance: true });
    await eventually(async () => expect(await a2()).toMatchObject({ health: 'healthy', maintenance: null }), 5_000, 20);
    expect((await inProcess(['undrain', 'dkv-a2'])).stdout).toBe('node dkv-a2 was not in maintenance; nothing changed\n');
  });

  it('check exits 0 when healthy, 1 with each reason (a shard without a master, an Envoy rejecting its config)', async () => {
    // shard1's master, as the -w test registered it.
    expect((await shardvoy.heartbeat({ id: 'dkv-b0', address: '10.0.0.8:9001', database: 'default', shard: 'shard1', role: 'master' })).status).toBe(200);
    await eventually(async () => expect((await endpoints()).find((e: any) => e.id === 'dkv-b0')?.health).toBe('healthy'), 5_000, 20);
    const healthy = await op(['check']);
    expect(healthy).toEqual({ code: 0, stdout: 'OK: ready, 2 shards with a routable master, 1 Envoy connected, none rejecting or stale, self-preservation off\n', stderr: '' });
    expect(JSON.parse((await inProcess(['check', '-o', 'json'])).stdout)).toEqual({ healthy: true, problems: [] });

    const bad = new EnvoyLikeClient(shardvoy.grpcAddress, { nodeId: 'envoy-bad', nodeCluster: 'local-group', rejectIf: (r) => (r.typeUrl.endsWith('Listener') ? 'listener 0.0.0.0:10000: address already in use' : undefined) });
    envoys.push(bad);
    await eventually(async () => expect((await api('/v1/xds/clients')).clients.find((c: any) => c.nodeId === 'envoy-bad')?.types.lds?.configStatus).toBe('ERROR'), 10_000, 50);
    expect((await inProcess(['forget', 'dkv-b0'])).stdout).toBe('node dkv-b0 forgotten (default/shard1 master, epoch 0, 10.0.0.8:9001); its next heartbeat registers it again\n');
    await eventually(async () => expect((await endpoints()).map((e: any) => e.id)).not.toContain('dkv-b0'), 5_000, 20);

    const failing = await op(['check']);
    expect(failing.code).toBe(1);
    expect(failing.stderr).toBe('');
    expect(failing.stdout).toMatch(
      /^FAIL: 2 problems\n {2}shard default\/shard1: no routable master \(no master registered\)\n {2}Envoy envoy-bad \(group local-group, 127\.0\.0\.1:\d+\): lds ERROR: rejected version \S+: listener 0\.0\.0\.0:10000: address already in use\n$/,
    );
    const json = await inProcess(['check', '-o', 'json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({ healthy: false, problems: failing.stdout.split('\n').slice(1, -1).map((l) => l.trim()) });
  });
});

describe('mistakes', { timeout: PROCESS_TIMEOUT_MS }, () => {
  it('a wrong or missing token: one line naming the request and the 401, the token never shown, exit 2', async () => {
    const [wrong, none, readForAdmin] = await Promise.all([
      op(['nodes', '--token', 'wr0ng-s3cret']),
      op(['status'], { SHARDVOY_TOKEN: '' }),
      op(['drain', 'dkv-a1'], { SHARDVOY_TOKEN: READ }),
    ]);
    expect(wrong.code).toBe(2);
    expect(wrong.stdout).toBe('');
    expect(wrong.stderr).toBe(
      `shardvoy nodes: GET ${shardvoy.baseUrl}/v1/nodes: 401 Unauthorized: authorization: a valid Bearer token for read is required; the token given (--token or SHARDVOY_TOKEN) was refused\n`,
    );
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^shardvoy status: GET \S+: 401 Unauthorized: authorization: a valid Bearer token for read is required; give one with --token or SHARDVOY_TOKEN\n$/);
    expect(readForAdmin.code).toBe(2);
    expect(readForAdmin.stderr).toContain(`PUT ${shardvoy.baseUrl}/v1/nodes/dkv-a1/maintenance: 401 Unauthorized: authorization: a valid Bearer token for admin is required`);
    for (const run of [wrong, none, readForAdmin]) expect(run.stderr).not.toMatch(/wr0ng|r3ad|adm1n/);
  });

  it('bad flags, an unknown node and an unreachable server: one line saying which, exit 2', async () => {
    const closedPort = await freePortRun(1, '127.0.0.1');
    const [flag, unknown, unreachable] = await Promise.all([
      op(['status', '-o', 'xml']),
      op(['forget', 'no-such-node']),
      op(['check', '--server', `http://127.0.0.1:${closedPort}`]),
    ]);
    expect(flag).toEqual({ code: 2, stdout: '', stderr: 'shardvoy status: -o: "xml" is not one of table, wide, json, yaml (see shardvoy status --help)\n' });
    expect(unknown).toEqual({ code: 2, stdout: '', stderr: `shardvoy forget: DELETE ${shardvoy.baseUrl}/v1/nodes/no-such-node: 404: id: no node "no-such-node"\n` });
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr).toMatch(/^shardvoy check: GET http:\/\/127\.0\.0\.1:\d+\/\S+: cannot reach the server \(ECONNREFUSED\); is shardvoy listening there\? \(--server or SHARDVOY_SERVER, default http:\/\/127\.0\.0\.1:8082\)\n$/);
  });
});
