/**
 * A real Envoy for the end-to-end suites (contract section 10): started from a bootstrap file on
 * this machine, its admin on a free port (read back through --admin-address-path), always
 * stopped. What Envoy itself reports (admin /stats, /clusters, /listeners, /config_dump) is what
 * the scenarios assert on.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { parse, stringify } from 'yaml';

export interface EnvoyOptions {
  /** A bootstrap file to run as it is (the committed files in envoy/). */
  readonly bootstrapFile?: string;
  /** Or a bootstrap (YAML text or an object) written to a temporary file; its admin is put on port 0. */
  readonly bootstrap?: string | Record<string, unknown>;
  /** Extra command-line flags (a --base-id, say). */
  readonly args?: readonly string[];
  /** Envoy's --drain-time-s: how long a removed listener or filter chain keeps its connections. */
  readonly drainTimeSeconds?: number;
  readonly concurrency?: number;
}

export interface EnvoyProcess {
  readonly admin: EnvoyAdmin;
  readonly child: ChildProcess;
  /** Everything Envoy wrote to stderr so far (its log). */
  log(): string;
  stop(): Promise<void>;
}

export function envoyBinary(): string {
  const bin = inject('envoyBin');
  if (!bin) throw new Error('the e2e global setup provided no Envoy binary (run through `npm run test:e2e`)');
  return bin;
}

export async function startEnvoy(options: EnvoyOptions): Promise<EnvoyProcess> {
  const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-envoy-'));
  const addressFile = path.join(dir, 'admin-address');
  let bootstrapFile = options.bootstrapFile;
  if (!bootstrapFile) {
    if (!options.bootstrap) throw new Error('startEnvoy needs bootstrapFile or bootstrap');
    bootstrapFile = path.join(dir, 'bootstrap.yaml');
    writeFileSync(bootstrapFile, stringify(withAdminOnFreePort(options.bootstrap)));
  }
  const envoyArgs = [
    '-c', bootstrapFile,
    // Several Envoys run side by side here: no shared memory for hot restart.
    '--disable-hot-restart',
    '--admin-address-path', addressFile,
    '--drain-time-s', String(options.drainTimeSeconds ?? 1),
    '--concurrency', String(options.concurrency ?? 1),
    '--log-level', 'warning',
    ...(options.args ?? []),
  ];
  const child = spawn(envoyBinary(), envoyArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const address = await waitForAdminAddress(addressFile, child, () => stderr);
    return { admin: new EnvoyAdmin(address), child, log: () => stderr, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * An Envoy sidecar of a group, on the bootstrap shardvoy itself hands out for it (contract 7.3,
 * `GET /v1/groups/:group/envoy-bootstrap`), its admin moved to a free port.
 */
export async function startGroupEnvoy(
  shardvoy: { readonly baseUrl: string; readonly grpcAddress: string },
  group: string,
  options: Omit<EnvoyOptions, 'bootstrap' | 'bootstrapFile'> = {},
): Promise<EnvoyProcess> {
  const url = `${shardvoy.baseUrl}/v1/groups/${encodeURIComponent(group)}/envoy-bootstrap?xds=${shardvoy.grpcAddress}`;
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: ${response.status} ${await response.text()}`);
  return startEnvoy({ ...options, bootstrap: await response.text() });
}

function withAdminOnFreePort(bootstrap: string | Record<string, unknown>): Record<string, unknown> {
  const parsed = (typeof bootstrap === 'string' ? parse(bootstrap) : structuredClone(bootstrap)) as Record<string, unknown>;
  return { ...parsed, admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } };
}

async function waitForAdminAddress(file: string, child: ChildProcess, log: () => string): Promise<string> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`Envoy exited (${child.exitCode ?? child.signalCode}) before its admin listened:\n${log()}`);
    if (existsSync(file)) {
      const address = readFileSync(file, 'utf8').trim();
      if (address) return address;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`Envoy's admin did not listen within 15 s:\n${log()}`);
}

/** Envoy's admin interface, read as an operator would. */
export class EnvoyAdmin {
  constructor(readonly address: string) {}

  async text(pathAndQuery: string): Promise<string> {
    const response = await fetch(`http://${this.address}${pathAndQuery}`);
    const body = await response.text();
    if (!response.ok) throw new Error(`Envoy admin ${pathAndQuery}: ${response.status} ${body}`);
    return body;
  }

  async json(pathAndQuery: string): Promise<any> {
    return JSON.parse(await this.text(pathAndQuery));
  }

  /** Every counter and gauge, by name (`/stats`, text form "name: value"). */
  async stats(): Promise<Map<string, number>> {
    const stats = new Map<string, number>();
    for (const line of (await this.text('/stats')).split('\n')) {
      const at = line.lastIndexOf(': ');
      if (at < 0) continue;
      const value = Number(line.slice(at + 2));
      if (Number.isFinite(value)) stats.set(line.slice(0, at), value);
    }
    return stats;
  }

  async stat(name: string): Promise<number> {
    return (await this.stats()).get(name) ?? 0;
  }

  /** `/clusters?format=json`: per cluster, its hosts with their address and counters. */
  async clusterHosts(cluster: string): Promise<ClusterHost[]> {
    const dump = await this.json('/clusters?format=json');
    const status = (dump.cluster_statuses ?? []).find((c: any) => c.name === cluster);
    return (status?.host_statuses ?? []).map((host: any) => {
      const counter = (name: string) => Number(host.stats?.find((s: any) => s.name === name)?.value ?? 0);
      return {
        address: `${host.address.socket_address.address}:${host.address.socket_address.port_value}`,
        cxTotal: counter('cx_total'),
        cxActive: counter('cx_active'),
        health: host.health_status?.eds_health_status ?? 'HEALTHY',
      };
    });
  }

  /** `/listeners?format=json`: name -> bound address. */
  async listeners(): Promise<Map<string, string>> {
    const dump = await this.json('/listeners?format=json');
    const listeners = new Map<string, string>();
    for (const l of dump.listener_statuses ?? []) {
      const socket = l.local_address?.socket_address;
      listeners.set(l.name, socket ? `${socket.address}:${socket.port_value}` : '');
    }
    return listeners;
  }

  async configDump(): Promise<any[]> {
    return (await this.json('/config_dump')).configs;
  }

  /** What Envoy holds from xDS: versions of the last accepted CDS/LDS, clusters and listeners warming. */
  async xdsState(): Promise<XdsState> {
    const configs = await this.configDump();
    const clustersDump = configs.find((c) => c['@type'].endsWith('ClustersConfigDump')) ?? {};
    const listenersDump = configs.find((c) => c['@type'].endsWith('ListenersConfigDump')) ?? {};
    return {
      cdsVersion: clustersDump.version_info ?? '',
      ldsVersion: listenersDump.version_info ?? '',
      warmingClusters: (clustersDump.dynamic_warming_clusters ?? []).map((c: any) => c.cluster.name),
      warmingListeners: (listenersDump.dynamic_listeners ?? []).filter((l: any) => l.warming_state && !l.active_state).map((l: any) => l.name),
      activeListeners: (listenersDump.dynamic_listeners ?? []).filter((l: any) => l.active_state).map((l: any) => l.name).sort(),
      listenerErrors: (listenersDump.dynamic_listeners ?? []).filter((l: any) => l.error_state).map((l: any) => ({ name: l.name, details: l.error_state.details })),
      activeClusters: (clustersDump.dynamic_active_clusters ?? []).map((c: any) => c.cluster.name).sort(),
    };
  }
}

export interface ClusterHost {
  readonly address: string;
  readonly cxTotal: number;
  readonly cxActive: number;
  readonly health: string;
}

export interface XdsState {
  readonly cdsVersion: string;
  readonly ldsVersion: string;
  readonly warmingClusters: readonly string[];
  readonly warmingListeners: readonly string[];
  readonly activeListeners: readonly string[];
  readonly activeClusters: readonly string[];
  readonly listenerErrors: ReadonlyArray<{ name: string; details: any }>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    envoyBin: string;
    /** scripts/peers/etcd.sh's etcd (test/support/etcd.ts). */
    etcdBin: string;
  }
}
