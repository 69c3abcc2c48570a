/**
 * Low-level xDS clients for conformance tests: they send exactly the requests a test scripts and
 * record every response in order, so a test can assert the exact sequence a client sees. Every
 * resource received is checked against the Envoy protos' validate rules.
 */
import * as grpc from '@grpc/grpc-js';
import { validateEncoded } from '../../src/envoy-api/pgv.js';
import { messageNameOf } from '../../src/envoy-api/type-urls.js';
import { aggregatedService } from '../../src/xds/service-definitions.js';
import { decodeToJson } from './golden-json.js';

export interface SotwResponse {
  readonly type_url: string;
  readonly version_info: string;
  readonly nonce: string;
  readonly names: string[];
  readonly decoded: Record<string, any>[];
  /** Each resource's encoded bytes (the value of its Any), in the order sent. */
  readonly encoded: Uint8Array[];
}

export interface DeltaResponse {
  readonly type_url: string;
  readonly system_version_info: string;
  readonly nonce: string;
  readonly names: string[];
  readonly versions: Record<string, string>;
  /** Each resource's encoded bytes (the value of its Any), by name. */
  readonly values: Record<string, Uint8Array>;
  readonly removed: string[];
}

const AdsClient = grpc.makeClientConstructor(aggregatedService(), 'AggregatedDiscoveryService');

abstract class RawStream<Res> {
  readonly received: Res[] = [];
  readonly violations: string[] = [];
  status: grpc.StatusObject | undefined;
  protected readonly call: grpc.ClientDuplexStream<object, any>;
  private readonly client: grpc.Client;
  private cursor = 0;
  private waiter: (() => void) | undefined;

  constructor(address: string, method: 'StreamAggregatedResources' | 'DeltaAggregatedResources') {
    this.client = new AdsClient(address, grpc.credentials.createInsecure());
    this.call = (this.client as unknown as Record<string, () => grpc.ClientDuplexStream<object, any>>)[method]!.call(this.client);
    this.call.on('data', (raw: any) => {
      this.received.push(this.decode(raw));
      this.waiter?.();
    });
    this.call.on('status', (status: grpc.StatusObject) => {
      this.status = status;
      this.waiter?.();
    });
    this.call.on('error', () => undefined);
  }

  /** The next response not yet taken, waiting up to timeoutMs for it. */
  async next(timeoutMs = 3_000): Promise<Res> {
    const deadline = Date.now() + timeoutMs;
    while (this.cursor >= this.received.length) {
      if (this.status) throw new Error(`stream ended (${this.status.code}: ${this.status.details}) while waiting for a response`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no response within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.received[this.cursor++]!;
  }

  /** Asserts that nothing arrives for `ms`. */
  async expectNothing(ms = 300): Promise<void> {
    const before = this.received.length;
    await new Promise((resolve) => setTimeout(resolve, ms));
    if (this.received.length > before) throw new Error(`expected no response, got ${JSON.stringify(this.received.slice(before))}`);
  }

  async ended(timeoutMs = 3_000): Promise<grpc.StatusObject> {
    const deadline = Date.now() + timeoutMs;
    while (!this.status && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    if (!this.status) throw new Error(`stream still open after ${timeoutMs} ms`);
    return this.status;
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }

  protected check(typeUrl: string, value: Uint8Array): Record<string, any> {
    const typeName = messageNameOf(typeUrl);
    for (const v of validateEncoded(typeName, value)) this.violations.push(`${typeName}: ${v.path}: ${v.message} (${v.rule})`);
    return decodeToJson(typeName, value);
  }

  protected abstract decode(raw: any): Res;
}

export class RawSotwStream extends RawStream<SotwResponse> {
  constructor(address: string) {
    super(address, 'StreamAggregatedResources');
  }

  request(fields: { type_url: string; resource_names?: string[]; version_info?: string; response_nonce?: string; node?: object; error_detail?: object }): void {
    this.call.write({ resource_names: [], version_info: '', response_nonce: '', ...fields });
  }

  /** ACKs a response, keeping the given subscription. */
  ack(response: SotwResponse, resourceNames: string[] = []): void {
    this.request({ type_url: response.type_url, version_info: response.version_info, response_nonce: response.nonce, resource_names: resourceNames });
  }

  nack(response: SotwResponse, heldVersion: string, message: string, resourceNames: string[] = []): void {
    this.request({ type_url: response.type_url, version_info: heldVersion, response_nonce: response.nonce, resource_names: resourceNames, error_detail: { code: 3, message } });
  }

  protected decode(raw: any): SotwResponse {
    const decoded = raw.resources.map((r: any) => this.check(r.type_url, r.value));
    return {
      type_url: raw.type_url,
      version_info: raw.version_info,
      nonce: raw.nonce,
      names: decoded.map((d: any) => String(d.name ?? d.cluster_name)),
      decoded,
      encoded: raw.resources.map((r: any) => new Uint8Array(r.value)),
    };
  }
}

export class RawDeltaStream extends RawStream<DeltaResponse> {
  constructor(address: string) {
    super(address, 'DeltaAggregatedResources');
  }

  request(fields: {
    type_url: string;
    resource_names_subscribe?: string[];
    resource_names_unsubscribe?: string[];
    initial_resource_versions?: Record<string, string>;
    response_nonce?: string;
    node?: object;
    error_detail?: object;
  }): void {
    this.call.write({ resource_names_subscribe: [], resource_names_unsubscribe: [], initial_resource_versions: {}, response_nonce: '', ...fields });
  }

  ack(response: DeltaResponse): void {
    this.request({ type_url: response.type_url, response_nonce: response.nonce });
  }

  protected decode(raw: any): DeltaResponse {
    const versions: Record<string, string> = {};
    const values: Record<string, Uint8Array> = {};
    for (const r of raw.resources) {
      this.check(r.resource.type_url, r.resource.value);
      versions[r.name] = r.version;
      values[r.name] = new Uint8Array(r.resource.value);
    }
    return {
      type_url: raw.type_url,
      system_version_info: raw.system_version_info,
      nonce: raw.nonce,
      names: raw.resources.map((r: any) => r.name),
      versions,
      values,
      removed: [...raw.removed_resources],
    };
  }
}
