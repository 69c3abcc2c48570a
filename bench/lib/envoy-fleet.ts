/**
 * Many real Envoys of one group on one machine, each in a network namespace of its own so that
 * every one can bind the group's listener ports; the namespaces hang off one bridge, whose
 * address on this host is where shardvoy and the nodes listen. Needs root (`ip netns`) and the
 * Envoy of scripts/peers/envoy.sh. stopEnvoys() ends every Envoy and keeps the namespaces for the
 * next start(); stop() also removes every namespace and link.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from './ipc.js';

export interface FleetEnvoy {
  readonly index: number;
  /** The namespace's address: Envoy's listeners and admin, as this host reaches them. */
  readonly address: string;
  readonly adminUrl: string;
  readonly child: ChildProcess;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

export function envoyBinary(): string {
  return execFileSync(path.join(REPO_ROOT, 'scripts', 'peers', 'envoy.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

export class EnvoyFleet {
  readonly envoys: FleetEnvoy[] = [];
  /** This host's address on the bridge. */
  readonly hostAddress: string;
  private readonly tag = randomBytes(2).toString('hex');
  private readonly subnet = `10.254.${200 + (randomBytes(1)[0]! % 50)}`;
  private readonly bridge = `svb${this.tag}`;
  private readonly namespaces: string[] = [];
  private readonly dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-fleet-'));

  constructor() {
    this.hostAddress = `${this.subnet}.1`;
    ip('link', 'add', this.bridge, 'type', 'bridge');
    ip('addr', 'add', `${this.hostAddress}/24`, 'dev', this.bridge);
    ip('link', 'set', this.bridge, 'up');
  }

  /**
   * Starts `count` Envoys of `group` on the bootstrap shardvoy hands out for it (contract 7.3),
   * pointing at the xDS server `xds` on the bridge (default: shardvoy's own); each admin listens
   * on its namespace's address. The namespaces of an earlier start are used again.
   */
  async start(count: number, group: string, shardvoy: { http: string; grpc: string }, xds = shardvoy.grpc): Promise<void> {
    if (this.envoys.length > 0) throw new Error('the fleet is running: stopEnvoys() first');
    const url = `${shardvoy.http}/v1/groups/${encodeURIComponent(group)}/envoy-bootstrap?xds=${xds}`;
    const response = await fetch(url);
    if (!response.ok) throw new Error(`GET ${url}: ${response.status} ${await response.text()}`);
    const served = parse(await response.text()) as Record<string, unknown>;
    const bin = envoyBinary();
    for (let index = 0; index < count; index++) {
      const namespace = `svbench-${this.tag}-${index}`;
      const address = `${this.subnet}.${10 + index}`;
      if (index >= this.namespaces.length) this.addNamespace(namespace, index, address);
      const bootstrap = path.join(this.dir, `envoy-${index}.json`);
      writeFileSync(bootstrap, JSON.stringify({ ...served, admin: { address: { socket_address: { address, port_value: 9901 } } } }));
      const child = spawn(
        'ip',
        ['netns', 'exec', namespace, bin, '-c', bootstrap, '--disable-hot-restart', '--concurrency', '1', '--drain-time-s', '1', '--log-level', 'error'],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
      this.envoys.push({ index, address, adminUrl: `http://${address}:9901`, child });
    }
    // Ready = each admin answers.
    const deadline = Date.now() + 30_000;
    for (const envoy of this.envoys) {
      for (;;) {
        const ok = await fetch(`${envoy.adminUrl}/ready`).then((r) => r.status < 600, () => false);
        if (ok) break;
        if (Date.now() > deadline) throw new Error(`Envoy ${envoy.index} did not start within 30 s`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  private addNamespace(namespace: string, index: number, address: string): void {
    ip('netns', 'add', namespace);
    this.namespaces.push(namespace);
    ip('link', 'add', `${this.bridge}h${index}`, 'type', 'veth', 'peer', 'name', `${this.bridge}n${index}`);
    ip('link', 'set', `${this.bridge}h${index}`, 'master', this.bridge);
    ip('link', 'set', `${this.bridge}h${index}`, 'up');
    ip('link', 'set', `${this.bridge}n${index}`, 'netns', namespace);
    ip('-n', namespace, 'addr', 'add', `${address}/24`, 'dev', `${this.bridge}n${index}`);
    ip('-n', namespace, 'link', 'set', `${this.bridge}n${index}`, 'up');
    ip('-n', namespace, 'link', 'set', 'lo', 'up');
  }

  /** Resident memory of each Envoy process, in bytes (`ip netns exec` execs Envoy in place). */
  rssBytes(): number[] {
    return this.envoys.map((envoy) => {
      const status = readFileSync(`/proc/${envoy.child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) * 1024;
    });
  }

  /** Ends every Envoy (SIGTERM, then SIGKILL after 5 s); the namespaces stay. */
  async stopEnvoys(): Promise<void> {
    await Promise.all(
      this.envoys.splice(0).map(
        (envoy) =>
          new Promise<void>((resolve) => {
            if (envoy.child.exitCode !== null || envoy.child.signalCode !== null) return resolve();
            envoy.child.once('exit', () => resolve());
            envoy.child.kill('SIGTERM');
            setTimeout(() => envoy.child.kill('SIGKILL'), 5_000).unref();
          }),
      ),
    );
  }

  async stop(): Promise<void> {
    await this.stopEnvoys();
    for (const namespace of this.namespaces) {
      try {
        ip('netns', 'del', namespace);
      } catch {
        /* gone already */
      }
    }
    try {
      ip('link', 'del', this.bridge);
    } catch {
      /* gone already */
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
