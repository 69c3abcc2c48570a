/**
 * The reads of a registry whose verdicts are made elsewhere: the followed discovery server's
 * (MirrorRegistry) or the etcd store's judge (EtcdRegistry). Their nodes are indexed in a
 * MemoryRegistry whose own clock never expires anyone, so time alone changes nothing here.
 */
import type { MemoryRegistry } from './memory-registry.js';
import type { NodeRecord } from './node.js';

export abstract class JudgedElsewhere {
  protected abstract readonly view: MemoryRegistry;

  get(id: string): NodeRecord | undefined {
    return this.view.get(id);
  }

  list(): readonly NodeRecord[] {
    return this.view.list();
  }

  shardMembers(database: string, shard: string): NodeRecord[] {
    return this.view.shardMembers(database, shard);
  }

  takeChanges(): ReadonlySet<string> {
    return this.view.takeChanges();
  }

  takeExpired(): string[] {
    return [];
  }

  sweep(): string[] {
    return [];
  }

  nextDeadline(): number | undefined {
    return undefined;
  }
}
