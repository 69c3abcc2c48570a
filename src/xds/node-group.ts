import { truncateForLog } from '../util/log-limits.js';
import type { NodeInfo } from './messages.js';

/** A stream belongs to the group its node.id names, else the one its node.cluster names. */
export function groupOfNode(node: NodeInfo | null, groups: readonly string[]): string | undefined {
  if (!node) return undefined;
  if (groups.includes(node.id)) return node.id;
  if (groups.includes(node.cluster)) return node.cluster;
  return undefined;
}

/** The longest list of configured groups a refusal carries: a gRPC status must fit a header. */
const MAX_GROUP_LIST = 1_024;

/**
 * Why a node gets no group. The configured groups are listed only to a peer that authenticated
 * (a client certificate the server verified): anyone else learns nothing of the configuration.
 * What the client sent is cut short, so the status (a header) always reaches it.
 */
export function unknownGroupMessage(node: NodeInfo | null, groups: readonly string[], listGroups = false): string {
  const who = node ? `node.id "${truncateForLog(node.id)}" and node.cluster "${truncateForLog(node.cluster)}"` : 'a request without node';
  if (!listGroups) return `${who} name no configured group`;
  let list = groups.join(', ');
  if (list.length > MAX_GROUP_LIST) list = `${list.slice(0, MAX_GROUP_LIST)}… (${groups.length} groups)`;
  return `${who} name no configured group; configured groups: ${list}`;
}
