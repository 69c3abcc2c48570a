/**
 * A test ADS client that subscribes the way Envoy does: wildcard CDS first; EDS for the EDS
 * clusters it receives; wildcard LDS once clusters are initialised; every response ACKed (or
 * NACKed when told to). Every resource it receives is decoded with the Envoy protos and checked
 * against their validate rules; violations are collected for the test to assert on.
 */
import * as grpc from '@grpc/grpc-js';
import { validateEncoded } from '../../src/envoy-api/pgv.js';
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, messageNameOf } from '../../src/envoy-api/type-urls.js';
import { aggregatedService } from '../../src/xds/service-definitions.js';
import { decodeToJson } from './golden-json.js';

type Json = Record<string, any>;

export interface ReceivedResponse {
  readonly typeUrl: string;
  readonly version: string;
  readonly nonce: string;
  readonly names: string[];
  readonly atMs: number;
}

interface RawResponse {
  version_info: string;
  type_url: string;
  nonce: string;
  resources: { type_url: string; value: Uint8Array }[];
}

const AdsClient = grpc.makeClientConstructor(aggregatedService(), 'AggregatedDiscoveryService');

export interface EnvoyLikeOptions {
  readonly nodeId: string;
  readonly nodeCluster?: string;
  /** NACK responses for which this returns a message. */
  readonly rejectIf?: (response: ReceivedResponse) => string | undefined;
}

export class EnvoyLikeClient {
  readonly listeners = new Map<string, Json>();
  readonly clusters = new Map<string, Json>();
  readonly endpoints = new Map<string, Json>();
  readonly routes = new Map<string, Json>();
  readonly responses: ReceivedResponse[] = [];
  readonly violations: string[] = [];
  status: grpc.StatusObject | undefined;
  private readonly versions = new Map<string, string>();
  private ldsRequested = false;
  private edsNames: string[] = [];
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<object, RawResponse>;
  private readonly waiters = new Set<() => void>();

  constructor(address: string, private readonly options: EnvoyLikeOptions) {
    this.client = new AdsClient(address, grpc.credentials.createInsecure());
    const method = (this.client as unknown as Record<string, () => grpc.ClientDuplexStream<object, RawResponse>>).StreamAggregatedResources!;
    this.call = method.call(this.client);
    this.call.on('data', (response: RawResponse) => this.onResponse(response));
    this.call.on('status', (status: grpc.StatusObject) => {
      this.status = status;
      this.wake();
    });
    this.call.on('error', () => undefined);
    this.send(CLUSTER, [], '', '', true);
  }

  /** Resolves once `predicate` holds (checked after every response), or rejects after `timeoutMs`. */
  waitFor(predicate: (client: this) => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
    if (predicate(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate(this)) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  /** Endpoint addresses of a cluster as "host:port" with their priority, sorted. */
  endpointsOf(cluster: string): { address: string; priority: number; zone: string | undefined; health: string }[] {
    const cla = this.endpoints.get(cluster);
    if (!cla) return [];
    const result = [];
    for (const locality of cla.endpoints ?? []) {
      for (const lb of locality.lb_endpoints ?? []) {
        const sa = lb.endpoint.address.socket_address;
        result.push({ address: `${sa.address}:${sa.port_value}`, priority: locality.priority ?? 0, zone: locality.locality?.zone, health: lb.health_status ?? 'UNKNOWN' });
      }
    }
    return result.sort((a, b) => a.address.localeCompare(b.address));
  }

  close(): void {
    this.call.end();
    this.client.close();
  }

  private onResponse(response: RawResponse): void {
    const record: ReceivedResponse = {
      typeUrl: response.type_url,
      version: response.version_info,
      nonce: response.nonce,
      names: [],
      atMs: Date.now(),
    };
    const decoded = new Map<string, Json>();
    for (const resource of response.resources) {
      const typeName = messageNameOf(resource.type_url);
      if (resource.type_url !== response.type_url) this.violations.push(`resource of type ${resource.type_url} in a ${response.type_url} response`);
      for (const v of validateEncoded(typeName, resource.value)) this.violations.push(`${typeName}: ${v.path}: ${v.message} (${v.rule})`);
      const json = decodeToJson(typeName, resource.value);
      const name = String(json.name ?? json.cluster_name);
      record.names.push(name);
      decoded.set(name, json);
    }
    this.responses.push(record);
    const reject = this.options.rejectIf?.(record);
    if (reject !== undefined) {
      this.send(response.type_url, this.namesFor(response.type_url), this.versions.get(response.type_url) ?? '', response.nonce, false, reject);
      this.wake();
      return;
    }
    this.apply(response.type_url, decoded);
    this.versions.set(response.type_url, response.version_info);
    this.send(response.type_url, this.namesFor(response.type_url), response.version_info, response.nonce, false);
    if (response.type_url === CLUSTER) {
      const edsClusters = [...this.clusters.values()].filter((c) => c.type === 'EDS').map((c) => String(c.name)).sort();
      if (edsClusters.join() !== this.edsNames.join()) {
        this.edsNames = edsClusters;
        this.send(ENDPOINT, edsClusters, this.versions.get(ENDPOINT) ?? '', this.lastNonce(ENDPOINT), false);
      }
      if (!this.ldsRequested) {
        this.ldsRequested = true;
        this.send(LISTENER, [], '', '', true);
      }
    }
    this.wake();
  }

  private apply(typeUrl: string, decoded: Map<string, Json>): void {
    const target = typeUrl === CLUSTER ? this.clusters : typeUrl === LISTENER ? this.listeners : typeUrl === ENDPOINT ? this.endpoints : this.routes;
    if (typeUrl === CLUSTER || typeUrl === LISTENER) target.clear(); // state of the world: absent means removed
    for (const [name, json] of decoded) target.set(name, json);
  }

  private namesFor(typeUrl: string): string[] {
    return typeUrl === ENDPOINT ? this.edsNames : [];
  }

  private lastNonce(typeUrl: string): string {
    for (let i = this.responses.length - 1; i >= 0; i--) if (this.responses[i]!.typeUrl === typeUrl) return this.responses[i]!.nonce;
    return '';
  }

  private send(typeUrl: string, names: string[], version: string, nonce: string, withNode: boolean, errorMessage?: string): void {
    this.call.write({
      version_info: version,
      resource_names: names,
      type_url: typeUrl,
      response_nonce: nonce,
      ...(withNode ? { node: { id: this.options.nodeId, cluster: this.options.nodeCluster ?? '' } } : {}),
      ...(errorMessage ? { error_detail: { code: 3, message: errorMessage } } : {}),
    });
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

export { CLUSTER, ENDPOINT, LISTENER, ROUTE };
