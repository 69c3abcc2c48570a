/** The child of HaHeartbeatLoad (ha-load.ts): heartbeats through several instances, answers reports over IPC. */
import type { LoadFailure, LoadNode, LoadReport } from './ha-load.js';

interface NodeState {
  readonly id: string;
  readonly json: string;
  readonly home: number;
  firstOk: number | undefined;
  lastOk: number | undefined;
  /** Gaps between two 200s longer than the interval: [ended at, length]. */
  longestGap: { at: number; ms: number } | undefined;
  /** The last answers, 200s and refusals, for a test that asks why (newest last). */
  readonly history: Array<[number, number, string]>;
  /** The times of the last 200s (newest last), kept apart so refusals cannot push them out. */
  readonly oks: number[];
}

let instances: string[] = [];
let intervalMs = 2_000;
let timeoutMs = 1_000;
const nodes: NodeState[] = [];
const failures: LoadFailure[] = [];
const beats: Array<{ at: number; ok: boolean; by: number }> = [];
let next = 0;
let timer: NodeJS.Timeout | undefined;

function addNodes(list: readonly LoadNode[]): void {
  for (const node of list) nodes.push({ id: String(node.body.id), json: JSON.stringify(node.body), home: node.home, firstOk: undefined, lastOk: undefined, longestGap: undefined, history: [], oks: [] });
}

async function tryOnce(instance: number, json: string): Promise<[string, string]> {
  try {
    const response = await fetch(`${instances[instance]}/v1/heartbeat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: json,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let reason = '';
    if (response.status !== 200) {
      try {
        reason = String(JSON.parse(text).message ?? '').slice(0, 120);
      } catch {
        reason = text.slice(0, 120);
      }
    }
    return [String(response.status), reason];
  } catch (error) {
    const name = (error as Error).name;
    return [name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'error', (error as Error).message.slice(0, 120)];
  }
}

async function beat(node: NodeState): Promise<void> {
  const at = Date.now();
  for (let i = 0; i < instances.length; i++) {
    const instance = (node.home + i) % instances.length;
    const [kind, reason] = await tryOnce(instance, node.json);
    keep(node, [Date.now(), instance, kind === '200' ? '200' : `${kind} ${reason}`]);
    if (kind === '200') {
      const now = Date.now();
      if (node.lastOk !== undefined) {
        const gap = now - node.lastOk;
        if (!node.longestGap || gap >= node.longestGap.ms || now - node.longestGap.at > 60_000) node.longestGap = { at: now, ms: gap };
      }
      node.firstOk ??= now;
      node.lastOk = now;
      node.oks.push(now);
      if (node.oks.length > 300) node.oks.splice(0, node.oks.length - 300);
      beats.push({ at, ok: true, by: instance });
      return;
    }
    failures.push({ at: Date.now(), instance, kind, reason: reason.replace(/\d+/g, 'N') });
    // A 4xx is the load's own fault: another instance would say the same.
    if (kind !== '503' && kind !== 'timeout' && kind !== 'error') break;
  }
  beats.push({ at, ok: false, by: -1 });
}

function keep(node: NodeState, entry: [number, number, string]): void {
  node.history.push(entry);
  if (node.history.length > 40) node.history.splice(0, node.history.length - 40);
}

function report(sinceMs: number): LoadReport {
  const since = beats.filter((b) => b.at >= sinceMs);
  const okBy = instances.map((_, i) => since.filter((b) => b.by === i).length);
  let maxGapMs = 0;
  let maxGapNode: string | undefined;
  const now = Date.now();
  for (const node of nodes) {
    // A gap that runs on now counts too.
    const open = node.lastOk === undefined ? 0 : now - node.lastOk;
    const closed = node.longestGap && node.longestGap.at >= sinceMs ? node.longestGap.ms : 0;
    const gap = Math.max(open, closed);
    if (gap > maxGapMs) {
      maxGapMs = gap;
      maxGapNode = node.id;
    }
  }
  const recent = failures.filter((f) => f.at >= sinceMs);
  return {
    acked: nodes.filter((n) => n.firstOk !== undefined).map((n) => [n.id, n.firstOk!, n.lastOk!] as const),
    failures: recent,
    unanswered: since.filter((b) => !b.ok).length,
    sent: since.length,
    ok: since.filter((b) => b.ok).length,
    okBy,
    maxGapMs,
    maxGapNode,
    unexpected: recent.filter((f) => !['503', 'timeout', 'error'].includes(f.kind)),
    reasons: countReasons(recent),
    firstOkAfter: firstOkAfter(sinceMs),
  };
}

function countReasons(list: readonly LoadFailure[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const f of list) {
    const key = `${f.kind} ${f.reason ?? ''}`.slice(0, 100);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(counts).sort((a, b) => b[1] - a[1]).slice(0, 8));
}

/** For every node acknowledged before `sinceMs`: when its first 200 at or after it came (ms after), or -1. */
function firstOkAfter(sinceMs: number): number[] {
  return nodes
    .filter((n) => n.firstOk !== undefined && n.firstOk < sinceMs)
    .map((n) => {
      const ok = n.history.find(([at, , kind]) => at >= sinceMs && kind === '200');
      return ok ? ok[0] - sinceMs : -1;
    });
}

function start(): void {
  const tickMs = 20;
  let carry = 0;
  timer = setInterval(() => {
    // Every node once per interval, spread over it.
    carry += (nodes.length * tickMs) / intervalMs;
    const count = Math.floor(carry);
    carry -= count;
    for (let i = 0; i < count && nodes.length > 0; i++) void beat(nodes[next++ % nodes.length]!);
  }, tickMs);
}

process.on('message', (message: { type: string; id?: number } & Record<string, any>) => {
  if (message.type === 'init') {
    instances = message.instances;
    intervalMs = message.intervalMs;
    timeoutMs = message.timeoutMs;
    addNodes(message.nodes);
    start();
    return;
  }
  if (message.type === 'add') {
    addNodes(message.nodes);
    process.send!({ id: message.id, value: undefined });
    return;
  }
  if (message.type === 'report') process.send!({ id: message.id, value: report(message.sinceMs) });
  if (message.type === 'history') {
    const wanted = new Set<string>(message.ids);
    process.send!({ id: message.id, value: Object.fromEntries(nodes.filter((n) => wanted.has(n.id)).map((n) => [n.id, { answers: n.history.slice(-12), oks: n.oks }])) });
  }
});
process.on('disconnect', () => {
  if (timer) clearInterval(timer);
  process.exit(0);
});
