/** The fields of the discovery messages shardvoy reads and writes (proto names, as protobufjs decodes them). */
import type { AnyValue } from '../translator/any.js';

export interface NodeInfo {
  readonly id: string;
  readonly cluster: string;
}

export interface DiscoveryRequest {
  readonly version_info: string;
  readonly node: NodeInfo | null;
  readonly resource_names: readonly string[];
  readonly type_url: string;
  readonly response_nonce: string;
  readonly error_detail: { readonly code: number; readonly message: string } | null;
}

export interface DiscoveryResponse {
  readonly version_info: string;
  readonly resources: readonly AnyValue[];
  readonly type_url: string;
  readonly nonce: string;
  readonly control_plane: { readonly identifier: string };
}
