/**
 * `shardvoy agent` as a process against shardvoy as a process, on deploy/privatelink.yaml's
 * group: registration and renewal, the TCP probe, --role-from, the advertised file and a
 * Kafka-style template, --wait-advertised, SIGTERM. The lease is 30 s (a heartbeat every 10 s), so
 * whatever reaches shardvoy sooner was sent "at once". Every port is picked by the kernel.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/harness.js';
import type { ShardvoyProcess } from '../support/shardvoy-process.js';
import { startShardvoyProcess } from '../support/shardvoy-process.js';
import { deadPort, fixtures, nodeRecord, privatelinkConfig, PROCESS_TIMEOUT_MS } from './fixtures.js';

let shardvoy: ShardvoyProcess;

beforeAll(async () => {
  shardvoy = await startShardvoyProcess({ config: privatelinkConfig({ leaseSeconds: 30 }) });
}, PROCESS_TIMEOUT_MS);

afterAll(async () => {
  await shardvoy?.stop();
});

describe('shardvoy agent against a real shardvoy', { timeout: PROCESS_TIMEOUT_MS }, () => {
  it('registers the node and renews it, as GET /v1/nodes shows', async ({ onTestFinished }) => {
    const f = fixtures(onTestFinished);
    const broker = await f.node();
    f.agent(shardvoy.baseUrl, 'renewed-1', broker.address, ['--interval', '0.5', '--dc', 'dc1', '--epoch', '3', '--label', 'rack=r1']);
    const first = await eventually(() => nodeRecord(shardvoy, 'renewed-1'), 30_000, 100);
    expect(first).toMatchObject({ id: 'renewed-1', address: broker.address, database: 'kafka', shard: 'brokers', role: 'master', status: 'active', dc: 'dc1', epoch: 3, labels: { rack: 'r1' } });
    const { nodes } = await shardvoy.getJson('/v1/nodes');
    expect(nodes.map((n: any) => n.id)).toContain('renewed-1');
    await eventually(async () => expect(Date.parse((await nodeRecord(shardvoy, 'renewed-1')).lastHeartbeat)).toBeGreaterThan(Date.parse(first.lastHeartbeat)), 8_000, 100);
  });

  it('sends inactive as soon as the TCP probe fails, and active when it passes again', async ({ onTestFinished }) => {
    const f = fixtures(onTestFinished);
    const broker = await f.node();
    const run = f.agent(shardvoy.baseUrl, 'probed-1', broker.address);
    await eventually(async () => expect((await nodeRecord(shardvoy, 'probed-1')).status).toBe('active'), 30_000, 100);
    // Heartbeats are 10 s apart; the probe, looked at every second, explains what follows.
    await broker.stop();
    const stoppedAt = Date.now();
    // Well within the 10 s period (about a second; more only on a loaded machine).
    await eventually(async () => expect((await nodeRecord(shardvoy, 'probed-1')).status).toBe('inactive'), 8_000, 50);
    expect(Date.now() - stoppedAt).toBeLessThan(8_000);
    await broker.start();
    const startedAt = Date.now();
    await eventually(async () => expect((await nodeRecord(shardvoy, 'probed-1')).status).toBe('active'), 8_000, 50);
    expect(Date.now() - startedAt).toBeLessThan(8_000);
    const failed = run.lines.find((l) => String(l.msg).startsWith('probe failed'));
    expect(failed).toMatchObject({ level: 40, reason: `connect to ${broker.address}: ECONNREFUSED` });
  });

  it('reads role and epoch from the node with --role-from, and reports a change at once', async ({ onTestFinished }) => {
    const f = fixtures(onTestFinished);
    const broker = await f.node();
    const roleFile = path.join(f.dir, 'role');
    writeFileSync(roleFile, 'replica 7\n');
    f.agent(shardvoy.baseUrl, 'roled-1', broker.address, ['--role-from', `exec:cat ${roleFile}`]);
    await eventually(async () => expect(await nodeRecord(shardvoy, 'roled-1')).toMatchObject({ role: 'replica', epoch: 7, status: 'active' }), 30_000, 100);
    writeFileSync(roleFile, '{"role": "master", "epoch": 8}\n');
    await eventually(async () => expect(await nodeRecord(shardvoy, 'roled-1')).toMatchObject({ role: 'master', epoch: 8, status: 'active' }), 8_000, 50);
    // A node whose role cannot be read is not routed.
    writeFileSync(roleFile, 'confused\n');
    await eventually(async () => expect(await nodeRecord(shardvoy, 'roled-1')).toMatchObject({ role: 'master', epoch: 8, status: 'inactive' }), 8_000, 50);
  });

  it('writes the advertised file and a Kafka server.properties from its template, with the port the group gave the node', async ({ onTestFinished }) => {
    const f = fixtures(onTestFinished);
    const broker = await f.node();
    const templateIn = path.join(f.dir, 'server.properties.in');
    writeFileSync(
      templateIn,
      [
        'process.roles=broker,controller',
        `listeners=INTERNAL://${broker.address},EXTERNAL://127.0.0.1:19093`,
        `advertised.listeners=INTERNAL://${broker.address},EXTERNAL://{{advertised.privatelink}}`,
        '# {{advertised.privatelink.host}} port {{advertised.privatelink.port}}',
        '',
      ].join('\n'),
    );
    const advertisedFile = path.join(f.dir, 'advertised.json');
    const out = path.join(f.dir, 'server.properties');
    f.agent(shardvoy.baseUrl, 'templated-1', broker.address, ['--advertised-file', advertisedFile, '--template', `${templateIn}:${out}`]);
    const advertised = await eventually(async () => {
      const all = await shardvoy.getJson('/v1/advertised?group=privatelink');
      expect(all['templated-1']).toMatch(/^kafka\.test\.com:6[01][0-9][0-9]$/);
      return all['templated-1'] as string;
    }, 30_000, 100);
    await eventually(() => expect(JSON.parse(readFileSync(advertisedFile, 'utf8'))).toEqual({ privatelink: advertised }), 8_000, 50);
    const port = advertised.split(':')[1];
    await eventually(() => {
      const text = readFileSync(out, 'utf8');
      expect(text).toContain(`advertised.listeners=INTERNAL://${broker.address},EXTERNAL://${advertised}\n`);
      expect(text).toContain(`# kafka.test.com port ${port}\n`);
    }, 8_000, 50);
  });

  it('--wait-advertised exits 0 once the outputs are written (an init step: the node is not up yet)', async ({ onTestFinished }) => {
    const f = fixtures(onTestFinished);
    const advertisedFile = path.join(f.dir, 'advertised.json');
    const run = f.agent(shardvoy.baseUrl, 'init-1', `127.0.0.1:${await deadPort()}`, ['--advertised-file', advertisedFile, '--wait-advertised']);
    expect(await run.exited).toBe(0);
    const written = JSON.parse(readFileSync(advertisedFile, 'utf8'));
    expect(written.privatelink).toMatch(/^kafka\.test\.com:6[01][0-9][0-9]$/);
    expect((await shardvoy.getJson('/v1/advertised?group=privatelink'))['init-1']).toBe(written.privatelink);
    // Registered and holding its port, but not routed: its probe failed (nothing listens yet).
    expect((await nodeRecord(shardvoy, 'init-1')).status).toBe('inactive');
  });

  it('on SIGTERM sends status inactive and exits 0', async ({ onTestFinished }) => {
    const f = fixtures(onTestFinished);
    const broker = await f.node();
    const run = f.agent(shardvoy.baseUrl, 'stopped-1', broker.address);
    await eventually(async () => expect((await nodeRecord(shardvoy, 'stopped-1')).status).toBe('active'), 30_000, 100);
    const signalledAt = Date.now();
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(5_000);
    // The node is still up: only the agent's goodbye explains it.
    expect((await nodeRecord(shardvoy, 'stopped-1')).status).toBe('inactive');
    expect(run.lines.map((l) => l.msg)).toContain(`sent status inactive to ${shardvoy.baseUrl}`);
  });
});
