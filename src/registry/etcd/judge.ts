/**
 * The one instance that decides expiry, forgetting and self-preservation for every instance
 * sharing the etcd store (contract 14), elected with etcd's election recipe. Its verdicts are
 * transactions that also require its election key to exist, so a judge that lost its election
 * without knowing yet cannot write one.
 *
 * Time: a lease runs out on etcd's leader's clock (the alive key disappears); the judge only
 * adds what the memory store adds, retention and self-preservation, on its own clock. A new
 * judge, and a judge whose copy of etcd was cut off, first gives every silent node a fresh
 * lease from the moment it starts judging, as the memory store does when it loads its state
 * file: so no node expires for a judge change or an outage, and nothing expires sooner than a
 * lease after judging began. (etcd itself renews every lease when its own leader changes; that
 * only makes leases end later, never sooner.)
 */
import type { Campaign, Etcd3, ICompare } from 'etcd3';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { NodeRecord } from '../node.js';
import type { ExpiryGuard } from '../self-preservation.js';
import type { EtcdRegistry } from './etcd-registry.js';
import { LeaseSweep } from './lease-sweep.js';

export interface JudgeOptions {
  readonly client: Etcd3;
  readonly registry: EtcdRegistry;
  readonly guard: ExpiryGuard;
  /** Seconds an expired node is kept (registry.expiredRetentionSeconds), read on every round. */
  readonly retentionMs: () => number;
  /** This instance's name in the election (xds.controlPlaneId). */
  readonly instance: () => string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly intervalMs?: number;
  /** How often the judge writes its tick key (mirror.ts). */
  readonly tickIntervalMs?: number;
}

const NONE: ReadonlySet<string> = new Set();
/** How long after a lease ends its node is judged, at most (half a lease below 4 s). */
const TOGETHER_MS = 2000;

export class EtcdJudge {
  private campaign: Campaign | undefined;
  private electionKey: ICompare | undefined;
  /** When judging began (or began again after the copy was cut off from etcd). */
  private since: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private judging: Promise<void> | undefined;
  private lastTickMs = Number.NEGATIVE_INFINITY;
  private stopped = false;
  private preservedIds: ReadonlySet<string> = NONE;
  private unsubscribe: (() => void) | undefined;
  private readonly sweep: LeaseSweep;

  constructor(private readonly options: JudgeOptions) {
    this.sweep = new LeaseSweep(async (lease) => {
      const answer = await options.client.leaseClient.leaseTimeToLive({ ID: lease }, { deadline: new Date(Date.now() + 2_000) });
      return { ttl: Number(answer.TTL), granted: Number(answer.grantedTTL) };
    }, options.logger);
  }

  start(): void {
    this.unsubscribe = this.options.registry.observe({
      copyChanged: (kind) => {
        if (kind === 'resume' && this.isJudge) {
          this.options.guard.resume(this.options.clock.now());
          this.options.logger.warn('self-preservation ended by an operator; silent nodes expire');
        }
        if (kind !== 'reset') this.soon();
      },
    });
    this.campaignNow();
    this.timer = setInterval(() => this.soon(), this.options.intervalMs ?? 250);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
    await this.judging;
    await this.campaign?.resign().catch(() => undefined);
  }

  get isJudge(): boolean {
    return this.electionKey !== undefined;
  }

  /** Nodes whose lease ran out that self-preservation keeps routable (as of the last round). */
  get preserved(): ReadonlySet<string> {
    return this.preservedIds;
  }

  private campaignNow(): void {
    if (this.stopped) return;
    const { client, registry, logger } = this.options;
    const instance = this.options.instance();
    // The election's own lease: another instance takes over about this long after the judge dies.
    const campaign = client
      .namespace(registry.keys.prefix)
      .election(registry.keys.election, Math.max(2, Math.round(registry.leaseMs / 1000)))
      .campaign(instance);
    this.campaign = campaign;
    campaign.on('elected', () => {
      void campaign.getCampaignKey().then((key) => {
        if (this.campaign !== campaign) return;
        this.electionKey = { key: Buffer.from(key), target: 'Version', result: 'Greater', version: 0 };
        this.since = undefined;
        logger.info({ instance }, 'elected judge: this instance decides expiry, forgetting and self-preservation');
        this.soon();
      });
    });
    campaign.on('error', (error: Error) => {
      if (this.campaign !== campaign) return;
      if (this.electionKey) logger.warn({ err: error }, 'no longer the judge: the election lease was lost');
      this.electionKey = undefined;
      this.campaign = undefined;
      setTimeout(() => this.campaignNow(), 500).unref();
    });
  }

  private soon(): void {
    if (this.judging || this.stopped) return;
    this.judging = this.round()
      .catch((error: Error) => this.options.logger.warn({ err: error }, 'judging round failed; retrying'))
      .finally(() => (this.judging = undefined));
  }

  private async round(): Promise<void> {
    const { registry, guard, clock } = this.options;
    const electionKey = this.electionKey;
    if (!electionKey) return;
    if (registry.trouble()) {
      // Cut off from etcd: no verdicts, and a fresh start once the copy is trusted again.
      this.since = undefined;
      return;
    }
    const now = clock.now();
    this.since ??= now;
    const leaseMs = registry.leaseMs;
    const { docs, alive, aliveEndedAt, expiredSeenAt } = registry.judgeView();
    const since = this.since;
    // Nodes whose lease ended and that are not expired yet: usually none, and then no one is judged.
    const silent = [...aliveEndedAt.keys()].filter((id) => !alive.has(id) && docs.get(id)?.doc.expired === false);
    const together = Math.min(leaseMs / 2, TOGETHER_MS);
    // Many at once: the others silent with them, whose alive keys etcd has not deleted yet (lease-sweep.ts).
    if (guard.enabled) await this.sweep.run(silent.length, docs, alive, leaseMs, now, together);
    // Silent nodes as heard a lease before their lease ended (or as a sweep found them), never before judging began.
    const lastHeard = (id: string) =>
      alive.has(id) ? Math.max(this.sweep.silentSince(id) ?? now, since) : Math.max((aliveEndedAt.get(id) ?? since) - leaseMs, since);
    let preserved: ReadonlySet<string> = NONE;
    if (silent.length > 0 || guard.isActive) {
      const records: NodeRecord[] = [...docs].map(([id, { doc }]) => ({ ...doc.node, lastHeartbeatMs: lastHeard(id) }));
      preserved = guard.evaluate(records, now);
    }
    const preservingChanged = preserved.size !== this.preservedIds.size;
    this.preservedIds = preserved;
    if (preservingChanged || now - this.lastTickMs >= (this.options.tickIntervalMs ?? 2000)) {
      this.lastTickMs = now;
      await registry.tick({ judge: this.options.instance(), preserving: guard.isActive, preserved: preserved.size });
    }

    // Leases that ran out together end in etcd over a spread (it checks every 500 ms and revokes
    // at most 1,000 a second): a node is expired only a moment after its lease ended, so that the
    // others silent with it are counted with it by self-preservation.
    const verdicts: Array<Promise<boolean>> = [];
    for (const id of silent) {
      const stored = docs.get(id)!;
      const endedAt = Math.max(aliveEndedAt.get(id) ?? since, since + leaseMs);
      if (!preserved.has(id) && now - lastHeard(id) > leaseMs && now - endedAt >= together) verdicts.push(registry.expire(id, stored, electionKey));
    }
    const retentionMs = this.options.retentionMs();
    for (const [id, seenAt] of expiredSeenAt) {
      const stored = docs.get(id);
      if (stored?.doc.expired && !preserved.has(id) && now - Math.max(seenAt, since) > retentionMs) verdicts.push(registry.forgetExpired(id, stored, electionKey));
    }
    const results = await Promise.allSettled(verdicts);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}
