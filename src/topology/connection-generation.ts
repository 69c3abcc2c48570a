/**
 * Contract 11: Envoy keeps established tcp_proxy connections when an endpoint leaves EDS, so a
 * fenced or departed master would go on taking writes on connections opened before. Renaming the
 * listener's filter chain is an in-place, filter-chain-only LDS update: Envoy drains the old chain
 * and closes its connections after its --drain-time-s, while new connections take the new chain.
 *
 * The name is a pure function of the set of routable master ids (ids only, not epochs: a master
 * re-elected with a higher epoch keeps its connections), so versions stay content hashes.
 */
import { createHash } from 'node:crypto';

/** The filter chain name of a masters listener whose cluster holds exactly these node ids. */
export function connectionGeneration(masterIds: readonly string[]): string {
  if (masterIds.length === 0) return 'masters-none';
  const sorted = [...masterIds].sort();
  // JSON keeps the set unambiguous whatever characters the ids hold.
  return `masters-${createHash('sha256').update(JSON.stringify(sorted)).digest('hex').slice(0, 16)}`;
}
