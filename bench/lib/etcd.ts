/**
 * etcd for the bench (scenario 7): a one- or three-member cluster on free loopback ports, from the
 * binary the e2e suites run (scripts/peers/etcd.sh: $ETCD_BIN, `etcd` on PATH, or Debian's
 * etcd-server; ETCD_VERSION=3.6 builds 3.6), its data in a fresh folder (/dev/shm where there is
 * one, as the tests do), etcd's default heartbeat and election timeouts (100 ms / 1,000 ms).
 * test/support/etcd.ts does the same for vitest and more (kills, pauses, restarts); it imports
 * vitest, so the bench has this small copy of its start-up, and reuses its free-port search.
 *
 * Every member is killed and the folder removed by stop(), and by the runner's exit at the latest.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePortRun } from '../../test/support/free-ports.js';
import { REPO_ROOT } from './ipc.js';

/** The environment without ETCD_*: etcd reads those as flags (ETCD_VERSION would be --version). */
function etcdEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('ETCD_')));
}

/** Why etcd could not be provided (the scenario then says "not run" and why). */
export class EtcdNotRun extends Error {}

/** The binary scripts/peers/etcd.sh finds or provisions, and its version. */
export function etcdBinary(): { bin: string; version: string } {
  let bin: string;
  try {
    bin = execFileSync('bash', [path.join(REPO_ROOT, 'scripts/peers/etcd.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 }).trim();
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim();
    throw new EtcdNotRun(`scripts/peers/etcd.sh provided no etcd${stderr ? `: ${stderr.split('\n').slice(-2).join(' ')}` : ''}`);
  }
  const out = execFileSync(bin, ['--version'], { encoding: 'utf8', env: etcdEnv() });
  const match = /etcd Version:\s*([0-9][0-9.]*)/.exec(out);
  if (!match) throw new EtcdNotRun(`${bin} --version said no version`);
  return { bin, version: match[1]! };
}

export interface BenchEtcdMember {
  readonly name: string;
  /** 127.0.0.1:PORT, its client address. */
  readonly endpoint: string;
  readonly pid: number;
}

export interface BenchEtcd {
  readonly version: string;
  readonly bin: string;
  readonly members: readonly BenchEtcdMember[];
  /** host:port of every member (registry.etcd.endpoints). */
  readonly endpoints: string[];
  readonly dir: string;
  /** The name of the member that is the raft leader now (asked over the JSON gateway). */
  leader(): Promise<string | undefined>;
  stop(): Promise<void>;
}

const live = new Set<{ stopNow: () => void }>();
process.once('exit', () => {
  for (const cluster of live) cluster.stopNow();
});

async function status(endpoint: string, timeoutMs = 500): Promise<{ memberId: string; leaderId: string }> {
  const response = await fetch(`http://${endpoint}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`status ${response.status}`);
  const s = (await response.json()) as { header?: { member_id?: string }; leader?: string };
  return { memberId: String(s.header?.member_id ?? ''), leaderId: String(s.leader ?? '0') };
}

function baseDir(): string {
  try {
    const probe = mkdtempSync(path.join('/dev/shm', 'shardvoy-bench-etcd-probe-'));
    rmSync(probe, { recursive: true, force: true });
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

export async function startBenchEtcd(members: 1 | 3, startTimeoutMs = 30_000): Promise<BenchEtcd> {
  const { bin, version } = etcdBinary();
  const dir = mkdtempSync(path.join(baseDir(), 'shardvoy-bench-etcd-'));
  const base = await freePortRun(2 * members, '127.0.0.1');
  const specs = Array.from({ length: members }, (_, i) => ({ name: `etcd-${i + 1}`, clientPort: base + 2 * i, peerPort: base + 2 * i + 1 }));
  const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peerPort}`).join(',');
  const [major, minor] = version.split('.').map(Number) as [number, number];
  const token = `shardvoy-bench-${randomUUID()}`;
  const children: ChildProcess[] = [];
  const stopNow = () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  const handle = { stopNow };
  live.add(handle);
  const logOf = (name: string) => path.join(dir, `${name}.log`);
  try {
    for (const s of specs) {
      const clientUrl = `http://127.0.0.1:${s.clientPort}`;
      const peerUrl = `http://127.0.0.1:${s.peerPort}`;
      const log = openSync(logOf(s.name), 'a');
      try {
        const child = spawn(
          bin,
          [
            '--name', s.name,
            '--data-dir', path.join(dir, s.name),
            '--listen-client-urls', clientUrl,
            '--advertise-client-urls', clientUrl,
            '--listen-peer-urls', peerUrl,
            '--initial-advertise-peer-urls', peerUrl,
            '--initial-cluster', initialCluster,
            '--initial-cluster-state', 'new',
            '--initial-cluster-token', token,
            ...(major === 3 && minor < 5 ? ['--logger', 'zap'] : []),
            '--log-level', 'warn',
            '--log-outputs', 'stderr',
          ],
          { stdio: ['ignore', log, log], env: etcdEnv() },
        );
        child.once('error', () => undefined);
        children.push(child);
      } finally {
        closeSync(log);
      }
    }
    const deadline = Date.now() + startTimeoutMs;
    const endpoints = specs.map((s) => `127.0.0.1:${s.clientPort}`);
    // Every member serves, and a majority names the same leader.
    for (;;) {
      const answers = await Promise.all(endpoints.map((e) => status(e).catch(() => undefined)));
      const leaders = answers.filter((a) => a && a.leaderId !== '0').map((a) => a!.leaderId);
      const agreed = leaders.find((id) => leaders.filter((l) => l === id).length > members / 2);
      if (answers.every((a) => a !== undefined) && agreed) break;
      const dead = children.find((c) => c.exitCode !== null || c.signalCode !== null);
      if (dead || Date.now() > deadline) {
        const logs = specs.map((s) => `--- ${s.name} ---\n${readFileSync(logOf(s.name), 'utf8').split('\n').slice(-10).join('\n')}`).join('\n');
        throw new Error(`etcd ${version} (${members} members) did not start${dead ? ' (a member exited)' : ` within ${startTimeoutMs} ms`}\n${logs}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const memberIds = await Promise.all(endpoints.map((e) => status(e).then((s) => s.memberId)));
    return {
      version,
      bin,
      dir,
      endpoints,
      members: specs.map((s, i) => ({ name: s.name, endpoint: endpoints[i]!, pid: children[i]!.pid! })),
      async leader() {
        for (const endpoint of endpoints) {
          const s = await status(endpoint).catch(() => undefined);
          if (s && s.leaderId !== '0') return specs[memberIds.indexOf(s.leaderId)]?.name;
        }
        return undefined;
      },
      async stop() {
        await Promise.all(
          children.map(
            (child) =>
              new Promise<void>((resolve) => {
                if (child.exitCode !== null || child.signalCode !== null) return resolve();
                child.once('exit', () => resolve());
                child.kill('SIGKILL');
              }),
          ),
        );
        rmSync(dir, { recursive: true, force: true });
        live.delete(handle);
      },
    };
  } catch (error) {
    stopNow();
    live.delete(handle);
    throw error;
  }
}
