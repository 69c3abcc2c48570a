/**
 * Encodes translated resources once per content, however many groups and rebuilds ask for it:
 * groups that see the same shard the same way get the very same bytes, and a rebuild that
 * changes nothing encodes nothing. Each new content is checked once (the Envoy validate rules);
 * a content that failed is checked again every time, so it can never slip through.
 */
import type { ResourceTypeUrl } from '../envoy-api/type-urls.js';
import { encodeResource, type EncodedResource } from './snapshot.js';
import type { TranslatedResource } from '../translator/translate.js';

export type ResourceCheck = (resource: EncodedResource) => string[];

interface Entry {
  readonly resource: EncodedResource;
  generation: number;
}

export class ResourceEncoder {
  private readonly memo = new Map<string, Entry>();
  private generation = 0;

  constructor(private readonly check?: ResourceCheck) {}

  /**
   * The encoded resource for content `key` of (type, name), translating only on a miss.
   * Problems found by the check are pushed to `problems`; such a result is never memoized.
   */
  encode(typeUrl: ResourceTypeUrl, name: string, key: string, translate: () => TranslatedResource, problems: string[]): EncodedResource {
    const memoKey = `${typeUrl}\u0000${name}\u0000${key}`;
    const hit = this.memo.get(memoKey);
    if (hit) {
      hit.generation = this.generation;
      return hit.resource;
    }
    const resource = encodeResource(translate());
    const found = this.check?.(resource) ?? [];
    if (found.length > 0) {
      problems.push(...found.map((problem) => `${name}: ${problem}`));
      return resource;
    }
    this.memo.set(memoKey, { resource, generation: this.generation });
    return resource;
  }

  /** Starts a full build: entries not used by it are dropped at its end. */
  beginFullBuild(): void {
    this.generation++;
  }

  endFullBuild(): void {
    for (const [key, entry] of this.memo) if (entry.generation !== this.generation) this.memo.delete(key);
  }

  get size(): number {
    return this.memo.size;
  }
}
