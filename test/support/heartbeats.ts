import type { Heartbeat } from '../../src/registry/node.js';
import { parseHostPort } from '../../src/util/host-port.js';

/** A validated heartbeat with the contract's defaults, for tests that bypass HTTP. */
export function heartbeat(fields: Partial<Omit<Heartbeat, 'host' | 'port'>> & { id: string }): Heartbeat {
  const address = fields.address ?? '10.0.0.1:9000';
  const parsed = parseHostPort(address);
  if (!parsed.ok) throw new Error(`test heartbeat ${fields.id}: ${parsed.reason}`);
  return {
    database: 'default',
    shard: 'shard0',
    role: 'replica',
    status: 'active',
    dc: undefined,
    epoch: 0,
    labels: {},
    ...fields,
    address,
    host: parsed.value.host,
    port: parsed.value.port,
  };
}
