import type { ListenerIR } from '../topology/ir.js';
import { packAny } from './any.js';
import { socketAddress } from './address.js';
import { CODEC_AUTO } from './enums.js';
import { routeConfiguration } from './route.js';

const TCP_PROXY = 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const HTTP_CONNECTION_MANAGER = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'envoy.extensions.filters.http.router.v3.Router';

export function listenerResource(listener: ListenerIR): Record<string, unknown> {
  switch (listener.kind) {
    case 'tcp':
      return {
        name: listener.name,
        address: socketAddress(listener.address.host, listener.address.port),
        filter_chains: [
          {
            // Renamed when a masters listener's masters change: Envoy drains the old chain (contract 11).
            ...(listener.connectionGeneration === undefined ? {} : { name: listener.connectionGeneration }),
            filters: [
              {
                name: 'envoy.filters.network.tcp_proxy',
                typed_config: packAny(TCP_PROXY, { stat_prefix: listener.name, cluster: listener.cluster }),
              },
            ],
          },
        ],
      };
    case 'http':
      return {
        name: listener.name,
        address: socketAddress(listener.address.host, listener.address.port),
        filter_chains: [
          {
            filters: [
              {
                name: 'envoy.filters.network.http_connection_manager',
                typed_config: httpConnectionManager(listener.name, listener, false),
              },
            ],
          },
        ],
      };
    case 'api':
      return {
        name: listener.name,
        api_listener: { api_listener: httpConnectionManager(listener.name, listener, true) },
      };
  }
}

function httpConnectionManager(name: string, listener: Exclude<ListenerIR, { kind: 'tcp' }>, proxyless: boolean) {
  return packAny(HTTP_CONNECTION_MANAGER, {
    stat_prefix: name,
    codec_type: CODEC_AUTO,
    // Clients put host:port in :authority; match virtual hosts on the name alone.
    strip_any_host_port: true,
    route_config: routeConfiguration(name, listener.virtualHosts, { proxyless }),
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: packAny(ROUTER, {}) }],
  });
}
