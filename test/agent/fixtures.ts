/**
 * What the agent's process tests share: shardvoy on deploy/privatelink.yaml's group, nodes (TCP
 * servers the agent probes), agents started as the CLI, and cleanup per test, so that the tests
 * of a file can run concurrently (they mostly wait on timers).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type http from 'node:http';
import { expect } from 'vitest';
import YAML from 'yaml';
import { runCli, type CliRun } from '../support/cli-process.js';
import { ROOT } from '../support/readme.js';
import { startShardvoyProcess, type ShardvoyProcess } from '../support/shardvoy-process.js';
import { startStandIn, type StandIn } from './stand-in.js';

export const TOKEN = 'agent-test-token-5f1c';

/** For tests that start processes: each start compiles the CLI (tsx), slow on a busy machine. */
export const PROCESS_TIMEOUT_MS = 90_000;

/**
 * deploy/privatelink.yaml's group with a wider port range (every test's nodes hold one), the
 * given registry settings instead of its state file, and a heartbeat token.
 */
export function privatelinkConfig(registry: Record<string, unknown>, options: { token?: boolean } = {}): Record<string, unknown> {
  const deployed = YAML.parse(readFileSync(path.join(ROOT, 'deploy', 'privatelink.yaml'), 'utf8')) as { groups: Array<Record<string, any>> };
  const groups = deployed.groups.map((g) => ({ ...g, nodeListeners: { ...g.nodeListeners, ports: '6001-6100' } }));
  return { ...deployed, groups, registry, ...(options.token === false ? {} : { auth: { heartbeatTokens: [TOKEN] } }) };
}

/** A node the agent probes: a TCP server that can go away and come back on the same port. */
export class NodeStandIn {
  private server: net.Server | undefined;
  port = 0;
  async start(): Promise<this> {
    const server = net.createServer((socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise((resolve) => server.close(resolve));
  }
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }
}

/** A port nothing listens on. */
export async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function nodeRecord(shardvoy: ShardvoyProcess, id: string): Promise<any> {
  const response = await fetch(`${shardvoy.baseUrl}/v1/nodes/${id}`);
  if (!response.ok) throw new Error(`GET /v1/nodes/${id}: ${response.status}`);
  return response.json();
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

export interface Fixtures {
  readonly dir: string;
  readonly tokenFile: string;
  /** `shardvoy agent` for a node of database kafka, shard brokers, role master, with the token file. */
  agent(server: string, id: string, address: string, extra?: string[], options?: { tokenFile?: string }): CliRun;
  node(): Promise<NodeStandIn>;
  standIn(handler: http.RequestListener): Promise<StandIn>;
  shardvoy(options: Parameters<typeof startShardvoyProcess>[0]): Promise<ShardvoyProcess>;
}

/** Resources for one test, released when it finishes. */
export function fixtures(onTestFinished: (fn: () => Promise<void> | void) => void): Fixtures {
  const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-agent-'));
  const tokenFile = path.join(dir, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`);
  const agents: CliRun[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  onTestFinished(async () => {
    for (const run of agents) {
      if (run.child.exitCode === null && run.child.signalCode === null) {
        run.child.kill('SIGKILL');
        await run.exited;
      }
    }
    for (const cleanup of cleanups.reverse()) await cleanup();
    rmSync(dir, { recursive: true, force: true });
    // The token never shows, and every stdout line is pino JSON.
    for (const run of agents) {
      expect(run.stdout).not.toContain(TOKEN);
      expect(run.stderr).not.toContain(TOKEN);
      for (const line of run.stdout.split('\n').filter(Boolean)) expect(() => JSON.parse(line)).not.toThrow();
    }
  });
  return {
    dir,
    tokenFile,
    agent(server, id, address, extra = [], options = {}) {
      const run = runCli(['agent', '--server', server, '--id', id, '--address', address, '--database', 'kafka', '--shard', 'brokers', '--role', 'master', '--token-file', options.tokenFile ?? tokenFile, ...extra]);
      agents.push(run);
      return run;
    },
    async node() {
      const n = await new NodeStandIn().start();
      cleanups.push(() => n.stop());
      return n;
    },
    async standIn(handler) {
      const s = await startStandIn(handler);
      cleanups.push(() => s.close());
      return s;
    },
    async shardvoy(options) {
      const s = await startShardvoyProcess(options);
      cleanups.push(() => s.stop());
      return s;
    },
  };
}
