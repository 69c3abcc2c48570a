/** The fields of the discovery messages shardvoy reads and writes (proto names, as protobufjs decodes them). */
import type { AnyValue } from '../translator/any.js';

export interface NodeInfo {
  readonly id: string;
  readonly cluster: string;
}

export interface ErrorDetail {
  readonly code: number;
  readonly message: string;
}

export interface DiscoveryRequest {
  readonly version_info: string;
  readonly node: NodeInfo | null;
  readonly resource_names: readonly string[];
  readonly type_url: string;
  readonly response_nonce: string;
  readonly error_detail: ErrorDetail | null;
}

export interface DiscoveryResponse {
  readonly version_info: string;
  readonly resources: readonly AnyValue[];
  readonly type_url: string;
  readonly nonce: string;
  readonly control_plane: { readonly identifier: string };
}

export interface DeltaDiscoveryRequest {
  readonly node: NodeInfo | null;
  readonly type_url: string;
  readonly resource_names_subscribe: readonly string[];
  readonly resource_names_unsubscribe: readonly string[];
  readonly initial_resource_versions: Readonly<Record<string, string>>;
  readonly response_nonce: string;
  readonly error_detail: ErrorDetail | null;
}

export interface DeltaResource {
  readonly name: string;
  readonly version: string;
  readonly resource: AnyValue;
}

export interface DeltaDiscoveryResponse {
  readonly system_version_info: string;
  readonly resources: readonly DeltaResource[];
  readonly type_url: string;
  readonly removed_resources: readonly string[];
  readonly nonce: string;
  readonly control_plane: { readonly identifier: string };
}
