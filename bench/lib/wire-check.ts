/**
 * Checks bench/lib/wire.ts against the real Envoy protos once per process, off the hot path:
 * a hand-rolled encoder that drifted from the protos would make every figure meaningless.
 */
import { envoyType } from '../../src/envoy-api/protos.js';
import { CLUSTER_NAME, EDS_TYPE_URL, deltaResponse, sotwResponse } from './eds-fixture.js';
import { encodeDeltaRequest, encodeSotwRequest, scanResponse } from './wire.js';

function expectEqual(what: string, actual: unknown, expected: unknown): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`bench wire encoding is wrong for ${what}: got ${a}, expected ${e}`);
}

export function checkWire(): void {
  const node = { id: 'g', cluster: 'g' };
  const sotw = envoyType('envoy.service.discovery.v3.DiscoveryRequest').decode(
    encodeSotwRequest({ versionInfo: 'v1', node, resourceNames: [CLUSTER_NAME], typeUrl: EDS_TYPE_URL, responseNonce: 'n1' }),
  ) as unknown as Record<string, any>;
  expectEqual('DiscoveryRequest', [sotw.version_info, sotw.node?.id, sotw.node?.cluster, sotw.resource_names, sotw.type_url, sotw.response_nonce], ['v1', 'g', 'g', [CLUSTER_NAME], EDS_TYPE_URL, 'n1']);
  const delta = envoyType('envoy.service.discovery.v3.DeltaDiscoveryRequest').decode(
    encodeDeltaRequest({ node, typeUrl: EDS_TYPE_URL, subscribe: [CLUSTER_NAME], responseNonce: 'n2' }),
  ) as unknown as Record<string, any>;
  expectEqual('DeltaDiscoveryRequest', [delta.node?.id, delta.type_url, delta.resource_names_subscribe, delta.response_nonce], ['g', EDS_TYPE_URL, [CLUSTER_NAME], 'n2']);
  const scannedSotw = scanResponse(sotwResponse(7));
  expectEqual('DiscoveryResponse', [scannedSotw.version, scannedSotw.typeUrl, scannedSotw.nonce], ['v7', EDS_TYPE_URL, 'n7']);
  const scannedDelta = scanResponse(deltaResponse(8));
  expectEqual('DeltaDiscoveryResponse', [scannedDelta.version, scannedDelta.typeUrl, scannedDelta.nonce], ['v8', EDS_TYPE_URL, 'n8']);
}
