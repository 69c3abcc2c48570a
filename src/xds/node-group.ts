import type { NodeInfo } from './messages.js';

/** A stream belongs to the group its node.id names, else the one its node.cluster names. */
export function groupOfNode(node: NodeInfo | null, groups: readonly string[]): string | undefined {
  if (!node) return undefined;
  if (groups.includes(node.id)) return node.id;
  if (groups.includes(node.cluster)) return node.cluster;
  return undefined;
}

export function unknownGroupMessage(node: NodeInfo | null, groups: readonly string[]): string {
  const who = node ? `node.id "${node.id}" and node.cluster "${node.cluster}"` : 'a request without node';
  return `${who} name no configured group; configured groups: ${groups.join(', ')}`;
}
