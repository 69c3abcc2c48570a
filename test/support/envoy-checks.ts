/**
 * The checks contract section 10 asks after every change a scenario makes, read from Envoy's own
 * admin: connected to the control plane, no update rejected, nothing left warming, and holding
 * the versions shardvoy says it ACKed.
 */
import { expect } from 'vitest';
import type { EnvoyProcess } from './envoy.js';
import { eventually } from './harness.js';

export interface ControlPlaneView {
  xdsClients(): Promise<any[]>;
}

/** The sum of every `*update_rejected` counter (LDS, CDS and each cluster's EDS). */
export async function rejectedUpdates(envoy: EnvoyProcess): Promise<number> {
  let total = 0;
  for (const [name, value] of await envoy.admin.stats()) if (name.endsWith('.update_rejected')) total += value;
  return total;
}

export async function expectEnvoyInSync(
  envoy: EnvoyProcess,
  shardvoy: ControlPlaneView,
  group: string,
  options: { rejectedBefore?: number; timeoutMs?: number } = {},
): Promise<void> {
  await eventually(async () => {
    const stats = await envoy.admin.stats();
    expect(stats.get('control_plane.connected_state'), 'control_plane.connected_state').toBe(1);
    expect(await rejectedUpdates(envoy), 'updates Envoy rejected').toBe(options.rejectedBefore ?? 0);
    const state = await envoy.admin.xdsState();
    expect(state.warmingClusters, 'clusters left warming').toEqual([]);
    expect(state.warmingListeners, 'listeners left warming').toEqual([]);
    const streams = (await shardvoy.xdsClients()).filter((client) => client.group === group);
    const acked = streams.map((client) => ({ cds: client.types.cds?.lastAckedVersion, lds: client.types.lds?.lastAckedVersion }));
    expect(acked, 'the versions Envoy holds, as ACKed to shardvoy').toContainEqual({ cds: state.cdsVersion, lds: state.ldsVersion });
  }, options.timeoutMs ?? 5_000, 50);
}
