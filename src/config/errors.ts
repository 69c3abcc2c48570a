/**
 * The one error type configuration problems raise. The CLI prints `message` and exits 2
 * (contract section 2), so it is always a single line naming the key path and the reason.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly keyPath: string;
  readonly reason: string;
  /** Where the configuration came from (a file path, `flags`, …); kept apart so `message` keeps its fixed shape. */
  readonly source: string | undefined;

  constructor(keyPath: string, reason: string, source?: string) {
    // A reason that spans lines (e.g. a parser's code frame) would break the one-line promise.
    const oneLine = reason.replace(/\s*\n\s*/g, ' ').trim();
    super(`config: ${keyPath}: ${oneLine}`);
    this.keyPath = keyPath;
    this.reason = oneLine;
    this.source = source;
  }
}

/** A key path as a list of object keys and array indexes, formatted only when an error is raised. */
export type PathSegment = string | number;

const PLAIN_KEY = /^[A-Za-z0-9_-]+$/;

/** `['groups', 0, 'shards', 1, 'listen']` -> `groups[0].shards[1].listen`; odd keys are quoted. */
export function formatKeyPath(segments: readonly PathSegment[]): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (PLAIN_KEY.test(segment)) out += out === '' ? segment : `.${segment}`;
    // Cluster names may contain dots; quoting keeps `clusters["a.b-masters"]` unambiguous.
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out === '' ? '(root)' : out;
}

/** A short, user-facing description of a value's type for "got …" in reasons. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : `a list of ${value.length}`;
  switch (typeof value) {
    case 'string':
      return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
    case 'number':
      return `the number ${value}`;
    case 'boolean':
      return `${value}`;
    case 'object':
      return 'a mapping';
    default:
      return typeof value;
  }
}

/** The candidate nearest to a misspelt key (at most 2 edits away), for "did you mean" hints. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
