/**
 * The agent's heartbeats: every third of the lease the server answered (or `--interval`), at
 * once when what the node looks like changes (its probe, its role), to the first server of
 * `--server` that answers, staying with it while it does.
 *
 * - A server that fails (5xx, no connection, no answer in time) hands over to the next one at
 *   once; when every server failed, the next round waits a backoff with jitter, capped at the
 *   heartbeat period, so a server that restarts is found again within a period.
 * - A server that refuses (4xx) is logged with its message, and the same heartbeat is tried again
 *   (on the next server) only after a backoff that grows up to a minute: never a tight loop. A
 *   change to the heartbeat or the token is tried at once, since it may be the fix.
 *
 * The node is looked at (probe, role) once a second, or every period if that is shorter.
 */
import type { Logger } from 'pino';
import type { Clock } from '../registry/clock.js';
import type { HeartbeatBody, HeartbeatResponse } from '../sources/http/schemas.js';
import { Backoff } from './backoff.js';
import type { AgentServer } from './flags.js';
import type { SendHeartbeat } from './heartbeat-client.js';

export interface HeartbeatLoopDeps {
  readonly servers: readonly AgentServer[];
  readonly send: SendHeartbeat;
  /** The heartbeat as the node looks now; probes get `timeoutMs`. */
  readonly observe: (timeoutMs: number) => Promise<HeartbeatBody>;
  /** The token to send now (a --token-file is re-read, so a rotated token is picked up). */
  readonly token: () => string | undefined;
  /** Each answer; 'done' ends the loop (--wait-advertised). */
  readonly onAnswer: (answer: HeartbeatResponse, server: AgentServer) => 'done' | void;
  readonly clock: Clock;
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly random?: () => number;
  readonly intervalSeconds?: number | undefined;
  readonly logger: Logger;
}

/** Until a server says otherwise: the built-in default lease. */
const ASSUMED_LEASE_SECONDS = 10;
const LOOK_EVERY_MS = 1_000;
const MAX_REQUEST_TIMEOUT_MS = 5_000;
const MIN_REQUEST_TIMEOUT_MS = 1_000;
const FINAL_REQUEST_TIMEOUT_MS = 2_000;
const ERROR_BACKOFF_INITIAL_MS = 500;
const REFUSAL_BACKOFF_MAX_MS = 60_000;

export class HeartbeatLoop {
  private stopped = false;
  private readonly abort = new AbortController();
  private current = 0;
  private leaseSeconds = ASSUMED_LEASE_SECONDS;
  /** The last server that answered, for logging a change of server. */
  private answeredBy: AgentServer | undefined;
  private lastAttemptKey: string | undefined;
  private nextAttemptAt = -Infinity;
  private readonly errors: Backoff;
  private readonly refusals: Backoff;
  private lastBody: HeartbeatBody | undefined;

  constructor(private readonly deps: HeartbeatLoopDeps) {
    const random = deps.random ?? Math.random;
    this.errors = new Backoff(() => ({ initialMs: ERROR_BACKOFF_INITIAL_MS, maxMs: Math.max(LOOK_EVERY_MS, this.periodMs()) }), deps.clock, random);
    this.refusals = new Backoff(() => ({ initialMs: Math.max(LOOK_EVERY_MS, this.periodMs()), maxMs: REFUSAL_BACKOFF_MAX_MS }), deps.clock, random);
  }

  /** Time between heartbeats: --interval, else a third of the lease. */
  periodMs(): number {
    return this.deps.intervalSeconds !== undefined ? this.deps.intervalSeconds * 1000 : (this.leaseSeconds * 1000) / 3;
  }

  /** The heartbeat last looked at (for the final `inactive` one). */
  get lastObserved(): HeartbeatBody | undefined {
    return this.lastBody;
  }

  /** Runs until stop(), or until onAnswer says 'done'. */
  async run(): Promise<void> {
    while (!this.stopped) {
      const body = await this.deps.observe(this.probeTimeoutMs());
      if (this.stopped) break;
      this.lastBody = body;
      const token = this.deps.token();
      const key = `${JSON.stringify(body)}\u0000${token ?? ''}`;
      if (key !== this.lastAttemptKey || this.deps.clock.now() >= this.nextAttemptAt) {
        this.lastAttemptKey = key;
        if ((await this.attempt(body, token)) === 'done') return;
      }
      if (this.stopped) break;
      const wait = Math.max(0, Math.min(this.lookEveryMs(), this.nextAttemptAt - this.deps.clock.now()));
      await this.deps.sleep(wait, this.abort.signal);
    }
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
  }

  /**
   * One last heartbeat (the `inactive` one at shutdown): each server once, from the current one,
   * until one answers. True if one did.
   */
  async sendFinal(body: HeartbeatBody): Promise<boolean> {
    const token = this.deps.token();
    for (let tried = 0; tried < this.deps.servers.length; tried++) {
      const server = this.deps.servers[(this.current + tried) % this.deps.servers.length]!;
      const outcome = await this.deps.send(server.heartbeatUrl, body, token, FINAL_REQUEST_TIMEOUT_MS);
      if (outcome.kind === 'answered') {
        this.deps.logger.info({ server: server.label, status: body.status }, `sent status ${body.status} to ${server.label}`);
        return true;
      }
      const reason = outcome.kind === 'refused' ? `${outcome.statusCode}: ${outcome.message}` : outcome.reason;
      this.deps.logger.warn({ server: server.label, status: body.status, error: reason }, `could not send status ${body.status} to ${server.label}: ${reason}`);
    }
    return false;
  }

  private async attempt(body: HeartbeatBody, token: string | undefined): Promise<'done' | void> {
    const { servers, logger, clock } = this.deps;
    for (let tried = 0; tried < servers.length && !this.stopped; tried++) {
      const server = servers[this.current]!;
      const outcome = await this.deps.send(server.heartbeatUrl, body, token, this.requestTimeoutMs());
      if (outcome.kind === 'answered') return this.answered(server, body, outcome.answer);
      if (outcome.kind === 'refused') {
        const retryInMs = Math.round(this.refusals.failed());
        this.nextAttemptAt = clock.now() + retryInMs;
        // Another server may think otherwise (one following another registry answers 409, say).
        this.current = (this.current + 1) % servers.length;
        logger.warn(
          { server: server.label, statusCode: outcome.statusCode, message: outcome.message, retryInMs, refusals: this.refusals.attempts },
          `${server.label} refused the heartbeat (${outcome.statusCode}): ${outcome.message}; trying again in ${retryInMs} ms, or at once if the heartbeat changes`,
        );
        return;
      }
      logger.warn({ server: server.label, error: outcome.reason }, `${server.label} did not take the heartbeat: ${outcome.reason}`);
      this.current = (this.current + 1) % servers.length;
    }
    if (this.stopped) return;
    const retryInMs = Math.round(this.errors.failed());
    this.nextAttemptAt = clock.now() + retryInMs;
    logger.warn({ retryInMs, failures: this.errors.attempts }, `no server took the heartbeat; trying again in ${retryInMs} ms`);
  }

  private answered(server: AgentServer, body: HeartbeatBody, answer: HeartbeatResponse): 'done' | void {
    const { logger, clock } = this.deps;
    const recovered = this.errors.attempts > 0 || this.refusals.attempts > 0;
    const leaseChanged = answer.leaseSeconds !== this.leaseSeconds;
    this.errors.succeeded();
    this.refusals.succeeded();
    this.leaseSeconds = answer.leaseSeconds;
    this.nextAttemptAt = clock.now() + this.periodMs();
    const fields = { server: server.label, status: body.status, leaseSeconds: answer.leaseSeconds, advertised: answer.advertised };
    if (this.answeredBy !== server || recovered) {
      logger.info({ ...fields, periodMs: Math.round(this.periodMs()) }, `heartbeating to ${server.label} every ${Math.round(this.periodMs())} ms`);
    } else if (leaseChanged) {
      logger.info({ ...fields, periodMs: Math.round(this.periodMs()) }, `lease is now ${answer.leaseSeconds} s`);
    } else {
      logger.debug(fields, 'heartbeat answered');
    }
    if ((leaseChanged || this.answeredBy === undefined) && this.deps.intervalSeconds !== undefined && this.deps.intervalSeconds >= answer.leaseSeconds) {
      logger.warn(
        { intervalSeconds: this.deps.intervalSeconds, leaseSeconds: answer.leaseSeconds },
        `--interval ${this.deps.intervalSeconds} is not shorter than the server's lease of ${answer.leaseSeconds} s: the node will expire between heartbeats`,
      );
    }
    this.answeredBy = server;
    return this.deps.onAnswer(answer, server);
  }

  private lookEveryMs(): number {
    return Math.min(LOOK_EVERY_MS, this.periodMs());
  }

  private requestTimeoutMs(): number {
    return Math.round(Math.min(MAX_REQUEST_TIMEOUT_MS, Math.max(MIN_REQUEST_TIMEOUT_MS, this.periodMs())));
  }

  private probeTimeoutMs(): number {
    return Math.round(Math.min(MAX_REQUEST_TIMEOUT_MS, Math.max(500, this.periodMs() / 2)));
  }
}

/** setTimeout as a promise that an abort ends early. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, Math.ceil(ms)));
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
