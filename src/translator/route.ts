import type { VirtualHostIR } from '../topology/ir.js';
import { duration } from './duration.js';

/** Routes every request of a virtual host to its cluster. Retries fire only with retry_on set. */
export function routeConfiguration(name: string, hosts: readonly VirtualHostIR[], options: { proxyless: boolean }): Record<string, unknown> {
  return {
    name,
    virtual_hosts: hosts.map((host) => ({
      name: host.name,
      domains: [...host.domains],
      routes: [
        {
          match: { prefix: options.proxyless ? '' : '/' },
          route: options.proxyless
            ? { cluster: host.cluster }
            : {
                cluster: host.cluster,
                timeout: duration(60_000),
                retry_policy: { retry_on: 'connect-failure,refused-stream,unavailable', num_retries: { value: 3 } },
              },
        },
      ],
    })),
  };
}
