/**
 * The operator's events (contract 15): every change that matters to routing, kept in a bounded
 * ring. Ids count up from 1 and are never reused in a process; `since(id)` and the stream's
 * `Last-Event-ID` resume after the last one a reader saw.
 */
import { DEFAULT_EVENTS_RETAIN } from '../config/schema.js';
import type { Clock } from '../registry/clock.js';

export type EventType = 'Normal' | 'Warning';

/** What an event is about: a node, a shard (`database/shard`), an xDS client, the registry or an instance. */
export interface EventSubject {
  readonly kind: 'Node' | 'Shard' | 'XdsClient' | 'Registry' | 'Instance';
  readonly name: string;
}

/** The reasons shardvoy gives; README lists them. */
export type EventReason =
  | 'NodeRegistered'
  | 'NodeExpired'
  | 'NodeFenced'
  | 'NodeForgotten'
  | 'MasterChanged'
  | 'PortAssigned'
  | 'MaintenanceStarted'
  | 'MaintenanceEnded'
  | 'SelfPreservationEngaged'
  | 'SelfPreservationEnded'
  | 'ConfigRejected'
  | 'ConfigRecovered'
  // Several instances (contract 14): documented, not emitted until the etcd store exists.
  | 'InstanceJoined'
  | 'InstanceLeft';

export interface OperatorEvent {
  readonly id: number;
  /** ISO 8601, server clock. */
  readonly time: string;
  readonly type: EventType;
  readonly reason: EventReason;
  readonly regarding: EventSubject;
  readonly message: string;
}

export type NewEvent = Omit<OperatorEvent, 'id' | 'time'>;
export type EventListener = (event: OperatorEvent) => void;

export class EventLog {
  private readonly ring: OperatorEvent[] = [];
  /** Index in `ring` of the oldest event once the ring is full. */
  private start = 0;
  private lastId = 0;
  private readonly listeners = new Set<EventListener>();

  constructor(
    private readonly clock: Clock,
    private retain = DEFAULT_EVENTS_RETAIN,
  ) {}

  /** A reloaded `events.retain`: the oldest events beyond it are let go. */
  reconfigure(retain: number): void {
    const kept = this.all().slice(-retain);
    this.ring.length = 0;
    this.ring.push(...kept);
    this.start = 0;
    this.retain = retain;
  }

  append(event: NewEvent): OperatorEvent {
    const stored: OperatorEvent = Object.freeze({
      id: ++this.lastId,
      time: new Date(this.clock.now()).toISOString(),
      type: event.type,
      reason: event.reason,
      regarding: Object.freeze({ ...event.regarding }),
      message: event.message,
    });
    if (this.ring.length < this.retain) this.ring.push(stored);
    else {
      this.ring[this.start] = stored;
      this.start = (this.start + 1) % this.ring.length;
    }
    for (const listener of this.listeners) listener(stored);
    return stored;
  }

  /** The id of the newest event (0 before the first). */
  get latestId(): number {
    return this.lastId;
  }

  /** The retained events with an id above `id`, oldest first. */
  since(id = 0): OperatorEvent[] {
    const all = this.all();
    // Ids are consecutive in the ring: find the first one above `id` by arithmetic.
    const first = all[0];
    if (!first) return [];
    return all.slice(Math.max(0, Math.min(all.length, id - first.id + 1)));
  }

  /** Tells `listener` of each new event. Returns an unsubscribe function. */
  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private all(): OperatorEvent[] {
    return this.start === 0 ? [...this.ring] : [...this.ring.slice(this.start), ...this.ring.slice(0, this.start)];
  }
}
