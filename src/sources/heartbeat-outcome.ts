/**
 * What the heartbeat sources announce after each heartbeat they receive (HTTP, DKV UpdateStatus),
 * for observers such as the metrics: where it came from and what became of it. The sources call
 * the hook and know nothing of who listens.
 */

/** `agent`: an HTTP heartbeat whose User-Agent starts with `shardvoy-agent`. */
export type HeartbeatSource = 'http' | 'dkv' | 'agent';

/**
 * accepted: stored. invalid: refused by validation (400, 413, 415; DKV Status -1). unauthorized:
 * no valid token. refused: not stored for another reason (409 following, 429 registry full, a
 * DKV record failure). error: the server failed.
 */
export type HeartbeatOutcome = 'accepted' | 'invalid' | 'unauthorized' | 'refused' | 'error';

/** What `shardvoy agent` sends as its User-Agent, before `/<version>`. */
export const USER_AGENT_PREFIX = 'shardvoy-agent';

export type HeartbeatListener = (source: HeartbeatSource, outcome: HeartbeatOutcome) => void;

/** The outcome of an HTTP heartbeat by its response status. */
export function outcomeOfStatus(statusCode: number): HeartbeatOutcome {
  if (statusCode < 300) return 'accepted';
  if (statusCode === 401) return 'unauthorized';
  if (statusCode === 409 || statusCode === 429) return 'refused';
  if (statusCode >= 500) return 'error';
  return 'invalid';
}

export function sourceOfUserAgent(userAgent: string | undefined): HeartbeatSource {
  return userAgent?.startsWith(USER_AGENT_PREFIX) ? 'agent' : 'http';
}
