/**
 * NACK events from what the xDS streams announce: one `ConfigRejected` per NACK, and one
 * `ConfigRecovered` when that client next accepts a version of the type it rejected.
 */
import { SHORT_NAMES } from '../envoy-api/type-urls.js';
import type { StreamReplyEvent, XdsObserver } from '../xds/observer.js';
import type { EventLog } from './event-log.js';

/** Messages in events are cut here; /v1/xds/clients keeps the whole NACK text. */
const MAX_MESSAGE = 1_024;

export class XdsEvents implements XdsObserver {
  /** `streamId|typeUrl` whose last reply was a NACK. */
  private readonly rejected = new Set<string>();

  constructor(private readonly log: EventLog) {}

  nacked(event: StreamReplyEvent & { readonly message: string }): void {
    this.rejected.add(`${event.streamId}|${event.typeUrl}`);
    const text = event.message.length > MAX_MESSAGE ? `${event.message.slice(0, MAX_MESSAGE)}…` : event.message;
    this.log.append({
      type: 'Warning',
      reason: 'ConfigRejected',
      regarding: subject(event),
      message: `${who(event)} rejected ${SHORT_NAMES[event.typeUrl]} version ${event.version}: ${text}`,
    });
  }

  acked(event: StreamReplyEvent): void {
    if (!this.rejected.delete(`${event.streamId}|${event.typeUrl}`)) return;
    this.log.append({
      type: 'Normal',
      reason: 'ConfigRecovered',
      regarding: subject(event),
      message: `${who(event)} accepted ${SHORT_NAMES[event.typeUrl]} version ${event.version} after rejecting an earlier one`,
    });
  }

  streamClosed(event: { readonly streamId: number }): void {
    for (const key of this.rejected) if (key.startsWith(`${event.streamId}|`)) this.rejected.delete(key);
  }
}

function subject(event: StreamReplyEvent) {
  return { kind: 'XdsClient', name: event.nodeId ?? `stream ${event.streamId}` } as const;
}

function who(event: StreamReplyEvent): string {
  return `xDS client ${event.nodeId ?? '(no node id)'} of group ${event.group ?? '(none)'} (stream ${event.streamId})`;
}
