/**
 * InstanceJoined / InstanceLeft events (contract 15) from what the shared registry store
 * announces: an instance's candidacy for judge appears in etcd when it starts and disappears
 * when it stops or its session lease runs out.
 */
import type { StoreObserver } from '../registry/etcd/etcd-registry.js';
import type { EventLog } from './event-log.js';

export function instanceEvents(log: EventLog): StoreObserver {
  return {
    instanceJoined: (name) =>
      log.append({ type: 'Normal', reason: 'InstanceJoined', regarding: { kind: 'Instance', name }, message: `instance ${name} joined the registry` }),
    instanceLeft: (name) =>
      log.append({
        type: 'Warning',
        reason: 'InstanceLeft',
        regarding: { kind: 'Instance', name },
        message: `instance ${name} left the registry (stopped, or its etcd session lease ran out)`,
      }),
  };
}
