/**
 * A paced heartbeat load in its own process (scenario 7): `nodes` nodes, each with a home
 * instance, each heartbeating every `intervalMs` as a live node renewing its lease does, the
 * nodes' phases spread evenly over the interval (so the load is a steady rate, not bursts). A node
 * is first registered (its first heartbeat, at most `registerConcurrency` at a time, retried until
 * a 200); from its first 200 on it renews on its phase. HTTP/1.1 keep-alive, at most
 * `socketsPerInstance` connections to each instance; no retries: every answer that is not a 200
 * (a status, a timeout after `timeoutMs`, a refused or reset connection) is counted as an error.
 *
 * IPC:
 *   init {instances, bodies, homes, intervalMs, timeoutMs, registerConcurrency, socketsPerInstance} -> {}
 *   start -> {}: registration and renewals begin
 *   progress -> {registered, total}
 *   mark -> RenewalWindow: what happened since the previous mark (or start), and resets it; renewals
 *          sent before the mark are waited for (up to timeoutMs) and counted in the window they were sent in
 *   stop -> {} once nothing is in flight (at most 5 s)
 */
import http from 'node:http';
import { serveParent } from '../lib/ipc.js';

export interface RenewalWindow {
  /** Since the previous mark, by this process's clock. */
  readonly elapsedMs: number;
  /** Renewals sent and answered 200 (registrations are not counted). */
  readonly sent: number;
  readonly ok: number;
  /** Renewals not answered 200, by kind: a status code, 'timeout', or 'error' (refused, reset). */
  readonly failures: Readonly<Record<string, number>>;
  /** Renewals due in the window that were not sent because their node was not registered yet. */
  readonly skippedUnregistered: number;
  /** Latency of every renewal answered 200 in the window, ms. */
  readonly latenciesMs: readonly number[];
  /** The most requests in flight at once, and the latest a 5 ms pacing tick ran, ms. */
  readonly maxInFlight: number;
  readonly maxTickLateMs: number;
  /** This process's CPU time in the window (user + system), ms. */
  readonly cpuMs: number;
}

interface InitRequest {
  readonly instances: readonly string[];
  readonly bodies: readonly string[];
  readonly homes: readonly number[];
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly registerConcurrency: number;
  readonly socketsPerInstance: number;
}

let setup: InitRequest | undefined;
let targets: Array<{ host: string; port: number; agent: http.Agent }> = [];
let payloads: Buffer[] = [];
let registered: boolean[] = [];
let registeredCount = 0;
let running = false;
let inFlight = 0;
let tickTimer: NodeJS.Timeout | undefined;

const TICK_MS = 5;

function freshWindow() {
  return {
    startedAt: performance.now(),
    cpu: process.cpuUsage(),
    sent: 0,
    ok: 0,
    failures: {} as Record<string, number>,
    skippedUnregistered: 0,
    /** Renewals of this window not answered yet: a mark waits for them (at most the request timeout). */
    outstanding: 0,
    latenciesMs: [] as number[],
    maxInFlight: 0,
    maxTickLateMs: 0,
  };
}
let window = freshWindow();

/** One POST /v1/heartbeat; resolves with '200', another status, 'timeout' or 'error', and the latency. */
function post(node: number): Promise<{ kind: string; ms: number }> {
  const target = targets[setup!.homes[node]!]!;
  const body = payloads[node]!;
  const started = performance.now();
  inFlight++;
  if (inFlight > window.maxInFlight) window.maxInFlight = inFlight;
  return new Promise((resolve) => {
    let settled = false;
    const done = (kind: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      inFlight--;
      resolve({ kind, ms: performance.now() - started });
    };
    const request = http.request(
      { host: target.host, port: target.port, method: 'POST', path: '/v1/heartbeat', agent: target.agent, headers: { 'content-type': 'application/json', 'content-length': body.length } },
      (response) => {
        response.resume();
        response.on('end', () => done(String(response.statusCode)));
        response.on('error', () => done('error'));
      },
    );
    const timer = setTimeout(() => {
      done('timeout');
      request.destroy();
    }, setup!.timeoutMs);
    request.on('error', () => done('error'));
    request.end(body);
  });
}

/** Registers every node once, `registerConcurrency` at a time, until each has had a 200. */
function pumpRegistrations(): void {
  const queue = registered.map((_, i) => i);
  let active = 0;
  const next = () => {
    while (running && active < setup!.registerConcurrency && queue.length > 0) {
      const node = queue.shift()!;
      active++;
      void post(node).then(({ kind }) => {
        active--;
        if (kind === '200') {
          if (!registered[node]) registeredCount++;
          registered[node] = true;
          next();
        } else {
          // Refused (a 503 while the instance holds back writes, say): again later, not at once, which would only add load.
          queue.push(node);
          setTimeout(next, 1_000);
        }
      });
    }
  };
  next();
}

/** Every node renews every intervalMs on its own phase: the k-th renewal overall is due at k × interval / n. */
function startRenewals(): void {
  const n = registered.length;
  const intervalMs = setup!.intervalMs;
  const startedAt = performance.now();
  let sentK = 0;
  let lastTick = startedAt;
  const tick = () => {
    if (!running) return;
    const now = performance.now();
    const late = now - lastTick - TICK_MS;
    if (late > window.maxTickLateMs) window.maxTickLateMs = late;
    lastTick = now;
    const dueK = Math.floor(((now - startedAt) * n) / intervalMs);
    for (; sentK < dueK; sentK++) {
      const node = sentK % n;
      if (!registered[node]) {
        window.skippedUnregistered++;
        continue;
      }
      window.sent++;
      const w = window;
      w.outstanding++;
      void post(node).then(({ kind, ms }) => {
        // Counted in the window it was sent in, even when answered after that window's mark.
        w.outstanding--;
        if (kind === '200') {
          w.ok++;
          w.latenciesMs.push(Math.round(ms * 100) / 100);
        } else w.failures[kind] = (w.failures[kind] ?? 0) + 1;
      });
    }
    tickTimer = setTimeout(tick, TICK_MS);
  };
  tick();
}

serveParent(
  {
    init: (request: InitRequest) => {
      setup = request;
      targets = request.instances.map((url) => {
        const parsed = new URL(url);
        return { host: parsed.hostname, port: Number(parsed.port), agent: new http.Agent({ keepAlive: true, maxSockets: request.socketsPerInstance }) };
      });
      payloads = request.bodies.map((b) => Buffer.from(b));
      registered = request.bodies.map(() => false);
      registeredCount = 0;
      return {};
    },
    start: () => {
      running = true;
      window = freshWindow();
      pumpRegistrations();
      startRenewals();
      return {};
    },
    progress: () => ({ registered: registeredCount, total: registered.length }),
    mark: async (): Promise<RenewalWindow> => {
      const w = window;
      window = freshWindow();
      const elapsedMs = performance.now() - w.startedAt;
      const cpu = process.cpuUsage(w.cpu);
      // The renewals sent just before the mark get their answer (or their timeout) counted here.
      const deadline = performance.now() + setup!.timeoutMs + 500;
      while (w.outstanding > 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      return {
        elapsedMs,
        sent: w.sent,
        ok: w.ok,
        failures: w.failures,
        skippedUnregistered: w.skippedUnregistered,
        latenciesMs: w.latenciesMs,
        maxInFlight: w.maxInFlight,
        maxTickLateMs: w.maxTickLateMs,
        cpuMs: (cpu.user + cpu.system) / 1000,
      };
    },
    stop: async () => {
      running = false;
      clearTimeout(tickTimer);
      const deadline = Date.now() + 5_000;
      while (inFlight > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      for (const t of targets) t.agent.destroy();
      return {};
    },
  },
  { pid: process.pid },
);
