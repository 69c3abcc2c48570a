/**
 * Enum values as numbers, read from the Envoy protos once: the translator builds messages that
 * protobufjs can encode as they are, skipping fromObject's conversion (half the cost of encoding).
 */
import { envoyRoot } from '../envoy-api/protos.js';

function value(enumName: string, name: string): number {
  const found = envoyRoot().lookupEnum(enumName).values[name];
  if (found === undefined) throw new Error(`${enumName} has no value ${name}`);
  return found;
}

export const DISCOVERY_TYPE_EDS = value('envoy.config.cluster.v3.Cluster.DiscoveryType', 'EDS');
export const LB_POLICY_ROUND_ROBIN = value('envoy.config.cluster.v3.Cluster.LbPolicy', 'ROUND_ROBIN');
export const API_VERSION_V3 = value('envoy.config.core.v3.ApiVersion', 'V3');
export const HEALTH_HEALTHY = value('envoy.config.core.v3.HealthStatus', 'HEALTHY');
export const HEALTH_DRAINING = value('envoy.config.core.v3.HealthStatus', 'DRAINING');
export const CODEC_AUTO = value('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.CodecType', 'AUTO');
