/**
 * The addresses a node is known by in other networks: for each group with node listeners that
 * reaches the node's database, `<front end host>:<its port>`, or null while the range is full.
 */
import type { Config } from '../config/types.js';
import type { PortView } from '../registry/ports.js';

export function advertisedAddresses(config: Config, ports: PortView, nodeId: string, database: string): Record<string, string | null> {
  const result: Record<string, string | null> = {};
  for (const group of config.groups) {
    if (!group.nodeListeners || group.database !== database) continue;
    const assignment = ports.portOf(group.name, nodeId);
    result[group.name] = assignment ? `${assignment.advertisedHost}:${assignment.port}` : null;
  }
  return result;
}
