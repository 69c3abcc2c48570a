/**
 * Hot reload through the real binary: the configuration file is re-read when it changes (or on
 * SIGHUP); a valid one is applied without dropping streams, an invalid one is refused with a log
 * line and the running configuration stays.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { reconcile } from '../../src/config/reload.js';
import { EnvoyLikeClient } from '../support/ads-client.js';
import { runCli, type CliRun } from '../support/cli-process.js';
import { startTestShardvoy } from '../support/harness.js';

const shard = (name: string, port: number) => `      - { name: ${name}, listen: "127.0.0.1:${port}", clusters: [${name}-masters, ${name}-replicas] }`;
const configText = (shards: string[], extra = '') => ['registry:', '  warmupSeconds: 0', extra, 'groups:', '  - name: edge', '    shards:', ...shards].join('\n') + '\n';

describe('hot reload', () => {
  const runs: CliRun[] = [];
  const clients: EnvoyLikeClient[] = [];
  afterEach(() => {
    for (const client of clients.splice(0)) client.close();
    for (const run of runs.splice(0)) if (run.child.exitCode === null) run.child.kill('SIGKILL');
  });

  it('applies a new shard without dropping the stream, refuses a broken file, and reloads on SIGHUP', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-reload-'));
    const file = path.join(dir, 'shardvoy.yaml');
    writeFileSync(file, configText([shard('shard0', 10000)]));
    const run = runCli(['serve', '--config', file, '--http', '127.0.0.1:0', '--grpc', '127.0.0.1:0']);
    runs.push(run);
    const grpc = (await run.waitForLine((l) => l.service === 'grpc')).address as string;
    const envoy = new EnvoyLikeClient(grpc, { nodeId: 'edge' });
    clients.push(envoy);
    await envoy.waitFor((c) => c.listeners.size === 2, 10_000, 'shard0 listeners');

    writeFileSync(file, configText([shard('shard0', 10000), shard('shard1', 11000)]));
    await envoy.waitFor((c) => c.listeners.size === 4 && c.endpoints.size === 4, 10_000, 'shard1 added');
    expect(envoy.status).toBeUndefined(); // the same stream, never dropped
    expect(envoy.listeners.get('shard1-replicas')!.address.socket_address.port_value).toBe(11001);

    const responses = envoy.responses.length;
    writeFileSync(file, configText([shard('shard0', 10000)]).replace('shard0-replicas', 'shard0-leaders'));
    const refused = await run.waitForLine((l) => l.msg === 'configuration reload refused; the running configuration stays');
    expect(refused.error).toContain('groups[0].shards[0].clusters[1]');
    await new Promise((r) => setTimeout(r, 300));
    expect(envoy.responses.length).toBe(responses);
    expect(envoy.listeners.size).toBe(4);

    // The state file is bound at start: a new one is kept for the next start, and said so.
    writeFileSync(file, configText([shard('shard0', 10000)], `  stateFile: ${path.join(dir, 'state.json')}`));
    const warned = await run.waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('these keys changed but apply only after a restart'));
    expect(warned.keys).toEqual(['registry.stateFile']);
    await envoy.waitFor((c) => c.listeners.size === 2, 10_000, 'shard1 removed');

    run.child.kill('SIGHUP');
    await run.waitForLine((l) => l.msg === 'configuration reloaded' && l.time > warned.time);
    expect(envoy.status).toBeUndefined();
  });
});

describe('reconcile', () => {
  const base = { groups: [{ name: 'g', shards: [{ name: 's0', listen: '0.0.0.0:10000', clusters: ['s0-masters'] }] }] };
  it('keeps the running value of keys bound at start and names them', () => {
    const running = parseConfig({ ...base, registry: { leaseSeconds: 10 } });
    const next = parseConfig({ ...base, grpc: { listen: '0.0.0.0:9999' }, registry: { leaseSeconds: 20, stateFile: '/tmp/x.json' }, xds: { debounceMs: 5, streamRequestBurst: 10 } });
    const { config, needsRestart } = reconcile(running, next);
    expect(needsRestart).toEqual(['grpc', 'registry.stateFile', 'xds.streamRequestBurst']);
    expect(config.grpc).toEqual(running.grpc);
    expect(config.registry.stateFile).toBeUndefined();
    expect(config.registry.leaseSeconds).toBe(20);
    expect(config.xds.debounceMs).toBe(5);
    expect(config.xds.streamRequestBurst).toBe(running.xds.streamRequestBurst);
  });

  it('applies a new xds.nackRetryMaxSeconds at once', () => {
    const { config, needsRestart } = reconcile(parseConfig(base), parseConfig({ ...base, xds: { nackRetryMaxSeconds: 30 } }));
    expect([config.xds.nackRetryMaxSeconds, needsRestart]).toEqual([30, []]);
  });
});

describe('reload removing a group', () => {
  it('closes the streams of a group that is no longer configured, with INVALID_ARGUMENT', async () => {
    const shards = [{ name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters'] }];
    const running = await startTestShardvoy({ groups: [{ name: 'kept', shards }, { name: 'gone', shards }] });
    const kept = new EnvoyLikeClient(running.grpcAddress, { nodeId: 'kept' });
    const gone = new EnvoyLikeClient(running.grpcAddress, { nodeId: 'gone' });
    try {
      await kept.waitFor((c) => c.listeners.size === 1, 5_000, 'kept served');
      await gone.waitFor((c) => c.listeners.size === 1, 5_000, 'gone served');
      running.shardvoy.reload(parseConfig({ groups: [{ name: 'kept', shards }] }));
      await gone.waitFor((c) => c.status !== undefined, 5_000, 'gone closed');
      expect(gone.status?.code).toBe(3);
      expect(gone.status?.details).toContain('group gone is no longer configured');
      expect(kept.status).toBeUndefined();
    } finally {
      kept.close();
      gone.close();
      await running.stop();
    }
  });
});
