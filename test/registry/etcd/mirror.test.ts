/**
 * The watched copy against the watch faults etcd 3.4 is known for (mirror.ts): duplicated
 * events, a watch resumed from an older revision, events lost, a watch that goes quiet. A fake
 * client plays etcd, so each fault is exact; the real-etcd behaviour is in test/e2e-envoy.
 */
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { EtcdMirror, type KeyChange, type MirrorSink } from '../../../src/registry/etcd/mirror.js';
import { eventually } from '../../support/harness.js';

interface Kv {
  key: Buffer;
  value: Buffer;
  mod_revision: string;
}

/** etcd as the mirror sees it: a key space at a revision, and watchers to which the test feeds responses. */
class FakeEtcd {
  kvs = new Map<string, Kv>();
  revision = 0;
  watchers: Array<EventEmitter & { startRevision: number; cancelled: boolean }> = [];
  lists = 0;

  put(key: string, value: string): Kv {
    this.revision++;
    const kv = { key: Buffer.from(key), value: Buffer.from(value), mod_revision: String(this.revision) };
    this.kvs.set(key, kv);
    return kv;
  }

  readonly client = {
    kv: {
      range: async (request: { limit?: number; sort_order?: string }) => {
        const all = [...this.kvs.values()].sort((a, b) => Number(b.mod_revision) - Number(a.mod_revision));
        // A list pages by key; the check asks for the newest key alone.
        const check = request.sort_order !== undefined;
        if (!check) this.lists++;
        return { header: { revision: String(this.revision) }, kvs: check ? all.slice(0, request.limit) : all, count: String(all.length), more: false };
      },
    },
    watch: () => {
      let start = 0;
      const builder = {
        prefix: () => builder,
        startRevision: (revision: string) => ((start = Number(revision)), builder),
        create: async () => {
          const watcher = Object.assign(new EventEmitter(), { startRevision: start, cancelled: false, cancel: async () => void (watcher.cancelled = true) });
          this.watchers.push(watcher);
          return watcher;
        },
      };
      return builder;
    },
  };

  /** What the latest watcher is sent. */
  send(events: Array<{ type: 'Put' | 'Delete'; kv: Kv }>, headerRevision = this.revision): void {
    this.watchers.at(-1)!.emit('data', { header: { revision: String(headerRevision) }, events });
  }
}

class RecordingSink implements MirrorSink {
  readonly seen: string[] = [];
  resets = 0;
  reset(kvs: readonly KeyChange[]): void {
    this.resets++;
    this.seen.push(`reset ${kvs.map((k) => k.key.toString()).sort().join(',')}`);
  }
  apply(changes: readonly KeyChange[]): void {
    for (const c of changes) this.seen.push(`${c.type} ${c.key.toString()}@${c.modRevision}`);
  }
}

const mirrors: EtcdMirror[] = [];
afterEach(async () => {
  await Promise.all(mirrors.splice(0).map((m) => m.stop()));
});

async function start(etcd: FakeEtcd, checkIntervalMs = 60_000) {
  const sink = new RecordingSink();
  const mirror = new EtcdMirror({ client: etcd.client as never, range: [Buffer.from('/p/'), Buffer.from('/p0')], sink, logger: pino({ level: 'silent' }), checkIntervalMs });
  mirrors.push(mirror);
  await mirror.start();
  return { mirror, sink };
}

describe('the watched copy of etcd', () => {
  it('lists, then watches from the revision after the list', async () => {
    const etcd = new FakeEtcd();
    etcd.put('/p/a', '1');
    const { mirror, sink } = await start(etcd);
    expect([sink.seen, mirror.revision, etcd.watchers[0]!.startRevision, mirror.connected]).toEqual([['reset /p/a'], 1, 2, true]);
  });

  it('applies a duplicated event once and drops a replay of older revisions', async () => {
    const etcd = new FakeEtcd();
    const { mirror, sink } = await start(etcd);
    const a = etcd.put('/p/a', '1');
    const b = etcd.put('/p/b', '2');
    etcd.send([{ type: 'Put', kv: a }]);
    etcd.send([{ type: 'Put', kv: a }, { type: 'Put', kv: b }]); // a again, then b
    etcd.send([{ type: 'Put', kv: a }]); // back in time
    expect(sink.seen.slice(1)).toEqual(['put /p/a@1', 'put /p/b@2']);
    expect(mirror.revision).toBe(2);
  });

  it('takes an empty response (a progress notification) as complete up to its revision', async () => {
    const etcd = new FakeEtcd();
    const { mirror } = await start(etcd);
    etcd.revision = 40; // writes elsewhere in etcd
    const caughtUp = mirror.caughtUp(40, 1_000);
    etcd.send([], 40);
    await caughtUp;
    expect(mirror.revision).toBe(40);
  });

  it('lists afresh when the watch is cancelled (a compacted revision), never resuming past the gap', async () => {
    const etcd = new FakeEtcd();
    const { sink } = await start(etcd);
    etcd.put('/p/late', 'x');
    etcd.watchers[0]!.emit('error', new Error('mvcc: required revision has been compacted'));
    await eventually(() => expect(etcd.watchers).toHaveLength(2));
    expect([sink.seen, etcd.watchers[0]!.cancelled, etcd.watchers[1]!.startRevision]).toEqual([['reset ', 'reset /p/late'], true, 2]);
  });

  it('recreates a watch that stays behind a newer key for a whole check interval', async () => {
    const etcd = new FakeEtcd();
    const { sink } = await start(etcd, 50);
    etcd.put('/p/missed', 'x'); // never delivered
    await eventually(() => expect(sink.resets).toBe(2), 2_000);
    expect(sink.seen.at(-1)).toBe('reset /p/missed');
  });

  it('recreates the copy when etcd holds another count of keys at a revision the copy has reached (lost events)', async () => {
    const etcd = new FakeEtcd();
    etcd.put('/p/a', '1');
    etcd.put('/p/b', '2');
    const { sink } = await start(etcd, 50);
    // b was deleted at revision 3 and the event lost; then a progress notification says 3 is complete.
    etcd.kvs.delete('/p/b');
    etcd.revision = 3;
    etcd.send([], 3);
    await eventually(() => expect(sink.resets).toBe(2), 2_000);
    expect(sink.seen.at(-1)).toBe('reset /p/a');
  });

  it('keeps a quiet but healthy watch: no newer key, same count', async () => {
    const etcd = new FakeEtcd();
    etcd.put('/p/a', '1');
    const { sink, mirror } = await start(etcd, 20);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect([sink.resets, mirror.connected, etcd.lists]).toEqual([1, true, 1]);
  });
});
