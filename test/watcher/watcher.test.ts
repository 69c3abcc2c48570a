/** The watcher publishes exactly when what a group should see changes, and never a bad snapshot. */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/registry/clock.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { SnapshotCache } from '../../src/snapshot/cache.js';
import type { EncodedResource } from '../../src/snapshot/snapshot.js';
import { Watcher } from '../../src/watcher/watcher.js';
import { heartbeat } from '../support/heartbeats.js';

const config = parseConfig(
  {
    registry: { leaseSeconds: 0.3, expiredRetentionSeconds: 60 },
    xds: { debounceMs: 20, maxDelayMs: 100 },
    groups: [{ name: 'edge', shards: [{ name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters', 'shard0-replicas'] }] }],
  },
  'test',
);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function setup(checkResource?: (resource: EncodedResource) => string[]) {
  const registry = new MemoryRegistry({ ...config.registry, clock: systemClock });
  const cache = new SnapshotCache();
  const published: string[] = [];
  cache.watch('edge', (snapshot) => published.push(snapshot.version));
  const watcher = new Watcher({ config, registry, cache, clock: systemClock, logger: pino({ level: 'silent' }), ...(checkResource ? { checkResource } : {}) });
  watcher.start();
  return { registry, cache, published, watcher };
}

describe('Watcher', () => {
  let stop: (() => void) | undefined;
  afterEach(() => stop?.());

  it('publishes the initial snapshot, then nothing for heartbeats that change no route', async () => {
    const { registry, published, watcher } = setup();
    stop = () => watcher.stop();
    expect(published).toHaveLength(1);
    registry.record(heartbeat({ id: 'm', role: 'master', epoch: 1 }));
    await sleep(60);
    expect(published).toHaveLength(2);
    registry.record(heartbeat({ id: 'm', role: 'master', epoch: 1, labels: { rack: 'r9' } }));
    // A node of a database no group reaches changes the registry but no group's resources.
    registry.record(heartbeat({ id: 'elsewhere', database: 'orders', role: 'master' }));
    await sleep(60);
    expect(published).toHaveLength(2);
  });

  it('coalesces a burst of changes into one publish, and a long burst waits no longer than maxDelayMs', async () => {
    const { registry, published, watcher } = setup();
    stop = () => watcher.stop();
    for (let i = 0; i < 50; i++) registry.record(heartbeat({ id: `r${i}`, address: `10.0.0.${i + 1}:9000` }));
    await sleep(60);
    expect(published).toHaveLength(2);

    // A change every 10 ms (inside the 20 ms quiet window) for 250 ms: still published every <= 100 ms.
    const started = Date.now();
    for (let i = 0; Date.now() - started < 250; i++) {
      registry.record(heartbeat({ id: 'flapper', address: `10.0.1.${(i % 250) + 1}:9000` })); // every state new, so every flush publishes
      await sleep(10);
    }
    expect(published.length).toBeGreaterThanOrEqual(2 + 2);
  });

  it('rebuilds when a lease runs out, with no heartbeat to trigger it', async () => {
    const { registry, cache, watcher } = setup();
    stop = () => watcher.stop();
    registry.record(heartbeat({ id: 'm', role: 'master' }));
    await sleep(60);
    const withMaster = cache.get('edge')!.version;
    await sleep(400); // lease 300 ms
    expect(cache.get('edge')!.version).not.toBe(withMaster);
    expect(watcher.routingView().health.get('m')).toBe('expired');
  });

  it('keeps the last good snapshot when a resource fails its checks, and never remembers a bad one as checked', async () => {
    let refuse = false;
    const { registry, cache, published, watcher } = setup((resource) => (refuse && resource.name === 'shard0-masters' && resource.typeUrl.endsWith('ClusterLoadAssignment') ? ['refused by test'] : []));
    stop = () => watcher.stop();
    const good = cache.get('edge')!.version;
    refuse = true;
    registry.record(heartbeat({ id: 'm', role: 'master' }));
    await sleep(60);
    expect(cache.get('edge')!.version).toBe(good);
    expect(published).toHaveLength(1);
    // The same bad content, rebuilt for another reason, is refused again.
    registry.record(heartbeat({ id: 'r', role: 'replica', address: '10.0.0.2:9000' }));
    await sleep(60);
    expect(published).toHaveLength(1);
    refuse = false;
    watcher.rebuild();
    expect(published).toHaveLength(2);
  });
});
