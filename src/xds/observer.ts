/**
 * What the xDS streams announce, for observers (metrics, events) that live outside this folder:
 * each response sent, and each ACK or NACK of one. Streams call these and know nothing of who
 * listens; an observer must not throw, and must not call back into the stream.
 */
import type { ResourceTypeUrl } from '../envoy-api/type-urls.js';

export interface StreamReplyEvent {
  readonly streamId: number;
  readonly protocol: 'sotw' | 'delta';
  readonly group: string | undefined;
  readonly nodeId: string | undefined;
  readonly typeUrl: ResourceTypeUrl;
  /** The version the reply is about (the one last sent of this type). */
  readonly version: string;
}

export interface XdsObserver {
  responseSent?(event: StreamReplyEvent): void;
  acked?(event: StreamReplyEvent): void;
  nacked?(event: StreamReplyEvent & { readonly message: string }): void;
  streamClosed?(event: { readonly streamId: number }): void;
}

/** Observers added and removed at any time, told in the order they were added. */
export class XdsObservers implements Required<XdsObserver> {
  private readonly observers = new Set<XdsObserver>();

  add(observer: XdsObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  responseSent(event: StreamReplyEvent): void {
    for (const o of this.observers) o.responseSent?.(event);
  }

  acked(event: StreamReplyEvent): void {
    for (const o of this.observers) o.acked?.(event);
  }

  nacked(event: StreamReplyEvent & { readonly message: string }): void {
    for (const o of this.observers) o.nacked?.(event);
  }

  streamClosed(event: { readonly streamId: number }): void {
    for (const o of this.observers) o.streamClosed?.(event);
  }
}
