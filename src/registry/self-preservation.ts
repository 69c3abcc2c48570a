/**
 * Self-preservation, as Eureka does it: when many nodes fall silent at once, the likelier fault is
 * the network between them and shardvoy, not the nodes. Expiring them would tell every Envoy that
 * healthy nodes are gone, so expiry stops instead and those nodes stay routable ("preserved")
 * until heartbeats bring the silent fraction back under the threshold, or an operator resumes it.
 *
 * A node is *silent* once it has missed half a lease: heartbeats come far more often than that.
 * The check runs when a lease runs out, over the nodes heard from within the last two leases, so
 * that nodes whose leases end a few milliseconds apart are judged together, not one by one.
 */
import type { Logger } from 'pino';
import type { SelfPreservationConfig } from '../config/types.js';
import type { NodeRecord } from './node.js';

const NONE: ReadonlySet<string> = new Set();

export class ExpiryGuard {
  private active = false;
  /** The nodes live when expiry stopped: the fraction is judged over them until it resumes. */
  private population = new Set<string>();
  private lastWarningMs = Number.NEGATIVE_INFINITY;
  /** After an operator's resume, nodes silent since before it are accepted as gone. */
  private acceptSilentBeforeMs = Number.NEGATIVE_INFINITY;

  constructor(
    private settings: SelfPreservationConfig,
    private leaseMs: number,
    private readonly logger: Logger,
  ) {}

  reconfigure(settings: SelfPreservationConfig, leaseMs: number): void {
    this.settings = settings;
    this.leaseMs = leaseMs;
    if (!settings.enabled) {
      this.active = false;
      this.population.clear();
    }
  }

  get isActive(): boolean {
    return this.active;
  }

  get enabled(): boolean {
    return this.settings.enabled;
  }

  /** Decides, at `nowMs`, which expired nodes are kept routable. */
  evaluate(nodes: readonly NodeRecord[], nowMs: number): ReadonlySet<string> {
    if (!this.settings.enabled) return NONE;
    const silentFor = (node: NodeRecord) => nowMs - node.lastHeartbeatMs;
    const silent = (node: NodeRecord) => silentFor(node) > this.leaseMs / 2;
    // An inactive node said goodbye; its silence is no sign of trouble.
    const counted = (node: NodeRecord) => node.status !== 'inactive' && node.lastHeartbeatMs >= this.acceptSilentBeforeMs;

    if (!this.active) {
      const recent = nodes.filter((n) => counted(n) && silentFor(n) <= 2 * this.leaseMs);
      const leaseRanOut = recent.some((n) => silentFor(n) > this.leaseMs);
      const silentCount = recent.filter(silent).length;
      if (leaseRanOut && recent.length >= this.settings.minNodes && silentCount / recent.length > this.settings.maxExpiredFraction) {
        this.active = true;
        this.population = new Set(recent.map((n) => n.id));
        this.lastWarningMs = Number.NEGATIVE_INFINITY;
      }
    } else {
      const members = nodes.filter((n) => this.population.has(n.id) && counted(n));
      const silentCount = members.filter(silent).length;
      if (silentCount / this.population.size <= this.settings.maxExpiredFraction) {
        this.active = false;
        this.logger.info({ silent: silentCount, of: this.population.size }, 'self-preservation over: heartbeats are back, expiry resumes');
      }
    }
    if (!this.active) return NONE;

    const preserved = new Set(nodes.filter((n) => this.population.has(n.id) && counted(n) && silentFor(n) > this.leaseMs).map((n) => n.id));
    if (nowMs - this.lastWarningMs >= this.leaseMs) {
      this.lastWarningMs = nowMs;
      this.logger.warn(
        { preserved: preserved.size, of: this.population.size, maxExpiredFraction: this.settings.maxExpiredFraction },
        `self-preservation: ${preserved.size} of ${this.population.size} nodes stopped heartbeating at once; expiry is stopped and they stay routable (POST /v1/registry/resume-expiry to expire them)`,
      );
    }
    return preserved;
  }

  /** The operator's word: expire the silent nodes now, and do not count them again. */
  resume(nowMs: number): boolean {
    const wasActive = this.active;
    this.active = false;
    this.population.clear();
    this.acceptSilentBeforeMs = nowMs - this.leaseMs / 2;
    return wasActive;
  }
}
