/** The configuration keys of contract 15: xds.controlPlaneId and events.retain. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { reconcile } from '../../src/config/reload.js';

const GROUPS = [{ name: 'g', shards: [{ name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters'] }] }];
const refusal = (raw: Record<string, unknown>) => {
  try {
    parseConfig(raw, 'test');
  } catch (error) {
    return (error as Error).message;
  }
  return undefined;
};

describe('operator keys', () => {
  it('reads xds.controlPlaneId and events.retain, and leaves them to their defaults when absent', () => {
    const config = parseConfig({ groups: GROUPS, xds: { controlPlaneId: 'shardvoy-eu-1' }, events: { retain: 50 } }, 'test');
    expect(config.xds.controlPlaneId).toBe('shardvoy-eu-1');
    expect(config.events).toEqual({ retain: 50 });
    const defaults = parseConfig({ groups: GROUPS }, 'test');
    expect(defaults.xds.controlPlaneId).toBeUndefined();
    expect(defaults.events).toBeUndefined();
    expect(parseConfig({ groups: GROUPS, events: {} }, 'test').events).toEqual({ retain: 10_000 });
  });

  it('refuses a bad value, naming the key', () => {
    expect(refusal({ groups: GROUPS, xds: { controlPlaneId: 'two words' } })).toContain('xds.controlPlaneId');
    expect(refusal({ groups: GROUPS, xds: { controlPlaneId: '' } })).toContain('xds.controlPlaneId');
    expect(refusal({ groups: GROUPS, events: { retain: 0 } })).toContain('events.retain');
    expect(refusal({ groups: GROUPS, events: { keep: 5 } })).toContain('events.keep');
  });

  it('applies events.retain on reload; controlPlaneId waits for a restart', () => {
    const running = parseConfig({ groups: GROUPS, xds: { controlPlaneId: 'a' } }, 'test');
    const next = parseConfig({ groups: GROUPS, xds: { controlPlaneId: 'b' }, events: { retain: 5 } }, 'test');
    const reconciled = reconcile(running, next);
    expect(reconciled.needsRestart).toEqual(['xds.controlPlaneId']);
    expect(reconciled.config.xds.controlPlaneId).toBe('a');
    expect(reconciled.config.events).toEqual({ retain: 5 });
  });
});
