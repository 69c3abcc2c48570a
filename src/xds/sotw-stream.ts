/**
 * A state-of-the-world xDS stream (ADS, or a per-type service). On top of the shared rules:
 * - a response answers a request; a NACKed response is never sent again, only a changed snapshot;
 * - a client reconnecting with the version it holds is not sent the same content again;
 * - after a CDS response, EDS is answered afresh so the clusters can finish warming, even when the
 *   client reconnected stating the EDS version it holds;
 * - a cluster that disappears stays in CDS until the listeners that may use it have been updated,
 *   and its endpoints stay while the client holds it.
 */
import { CLUSTER, ENDPOINT, LISTENER, type ResourceTypeUrl } from '../envoy-api/type-urls.js';
import { versionOf, type EncodedResource, type Snapshot } from '../snapshot/snapshot.js';
import type { DiscoveryRequest, DiscoveryResponse } from './messages.js';
import { sotwBody, withNonce } from './response-encoding.js';
import { XdsStream, type TypeStateBase } from './stream-base.js';
import { nextSubscription, select } from './subscription.js';

interface SotwTypeState extends TypeStateBase {
  /** The resources of the last response: what the client holds if it accepted it. */
  sent: ReadonlyMap<string, EncodedResource>;
}

interface Target {
  readonly resources: readonly EncodedResource[];
  readonly version: string;
}

export class SotwStream extends XdsStream<DiscoveryRequest, DiscoveryResponse, SotwTypeState> {
  readonly protocol = 'sotw';

  heldResources(typeUrl: ResourceTypeUrl): readonly EncodedResource[] {
    return [...(this.types.get(typeUrl)?.sent.values() ?? [])];
  }

  protected handle(typeUrl: ResourceTypeUrl, request: DiscoveryRequest): void {
    const previous = this.types.get(typeUrl);
    const state = previous ?? newState(request.version_info);
    if (this.acknowledge(typeUrl, state, request, request.version_info) === 'stale') return;
    state.subscription = nextSubscription(typeUrl, previous?.subscription, request.resource_names);
    state.pending = true;
    this.types.set(typeUrl, state);
  }

  protected hasChange(typeUrl: ResourceTypeUrl, state: SotwTypeState, snapshot: Snapshot): boolean {
    if (this.retryDue(typeUrl)) return true;
    // EDS is answered afresh, even unchanged, while it names a cluster the client is warming.
    if (typeUrl === ENDPOINT && this.warming.owedTo(state.subscription)) return true;
    return this.target(typeUrl, state, snapshot).version !== state.sentVersion;
  }

  protected respond(typeUrl: ResourceTypeUrl, state: SotwTypeState, snapshot: Snapshot): void {
    const target = this.target(typeUrl, state, snapshot);
    const nonce = this.nextNonce();
    this.markSent(typeUrl, state, target.version, nonce);
    state.sent = new Map(target.resources.map((r) => [r.name, r]));
    this.options.send(withNonce(sotwBody(typeUrl, target.version, target.resources, this.options.controlPlaneId), nonce));
    if (typeUrl === CLUSTER) this.warming.replacedBy(state.sent.keys());
    if (typeUrl === ENDPOINT) this.warming.answered(state.subscription.names);
  }

  private target(typeUrl: ResourceTypeUrl, state: SotwTypeState, snapshot: Snapshot): Target {
    const set = snapshot.sets[typeUrl];
    const resources = select(set, state.subscription);
    resources.push(...this.retained(typeUrl, state, snapshot));
    const whole = state.subscription.wildcard && resources.length === set.items.size;
    return { resources, version: whole ? set.version : versionOf(resources) };
  }

  /**
   * Removals after additions: resources gone from the snapshot that the client must keep a while.
   * A cluster stays until the listeners that may route to it are updated; its endpoints stay as
   * long as the client holds the cluster, so traffic keeps flowing through the switch.
   */
  private retained(typeUrl: ResourceTypeUrl, state: SotwTypeState, snapshot: Snapshot): EncodedResource[] {
    const keep =
      typeUrl === CLUSTER && this.listenersBehind(snapshot)
        ? () => true
        : typeUrl === ENDPOINT
          ? (name: string) => this.types.get(CLUSTER)?.sent.has(name) === true
          : undefined;
    if (!keep) return [];
    const set = snapshot.sets[typeUrl];
    const subscribed = (name: string) => state.subscription.wildcard || state.subscription.names.has(name);
    return [...state.sent.values()].filter((r) => !set.items.has(r.name) && subscribed(r.name) && keep(r.name));
  }

  private listenersBehind(snapshot: Snapshot): boolean {
    const listeners = this.types.get(LISTENER);
    return listeners !== undefined && this.target(LISTENER, listeners, snapshot).version !== listeners.sentVersion;
  }
}

function newState(heldVersion: string): SotwTypeState {
  // A reconnecting client states the version it holds; if it is current, there is nothing to send.
  const held = heldVersion === '' ? undefined : heldVersion;
  return {
    subscription: { wildcard: false, names: new Set() },
    pending: false,
    sent: new Map(),
    nonce: undefined,
    awaitingReply: false,
    awaitingSinceMs: undefined,
    sentVersion: held,
    sentAtMs: undefined,
    ackedVersion: held,
    nack: undefined,
  };
}
