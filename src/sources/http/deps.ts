/**
 * What the HTTP routes are given: its own module, so the route plugins and the app that
 * registers them both import it and neither imports the other.
 */
import type { Logger } from 'pino';
import type { Config } from '../../config/types.js';
import type { EventLog } from '../../observers/event-log.js';
import type { Clock } from '../../registry/clock.js';
import type { NodeRegistry } from '../../registry/registry.js';
import type { RoutingView } from '../../watcher/watcher.js';
import type { StreamStatus } from '../../xds/stream-base.js';
import type { HeartbeatListener } from '../heartbeat-outcome.js';

export interface HttpDeps {
  readonly config: Config;
  readonly registry: NodeRegistry;
  readonly routingView: () => RoutingView;
  readonly xdsClients: () => StreamStatus[];
  readonly readiness: () => { ready: true } | { ready: false; reason: string };
  /** Ends self-preservation now; true if it was on. */
  readonly resumeExpiry: () => boolean | Promise<boolean>;
  /** GET /metrics: the Prometheus text and its content type. */
  readonly metrics: { text(): Promise<string>; readonly contentType: string };
  /** GET /v1/events and its stream. */
  readonly events: EventLog;
  /** Told of each POST /v1/heartbeat and what became of it (observers: metrics). */
  readonly onHeartbeat?: HeartbeatListener | undefined;
  readonly clock: Clock;
  readonly logger: Logger;
}
