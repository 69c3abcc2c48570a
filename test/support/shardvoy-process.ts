/**
 * shardvoy as its users run it: the CLI in a process of its own (`serve`), on the ports its
 * configuration or flags say, stopped (or killed) by the test.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli, type CliRun } from './cli-process.js';

export interface ShardvoyProcessOptions {
  /** A native-dialect configuration, written to a temporary JSON file; none = the built-in default. */
  readonly config?: Record<string, unknown>;
  /** Or a configuration file to use as it is. */
  readonly configFile?: string;
  /** Extra flags; the default puts both servers on free loopback ports unless the config is the built-in one. */
  readonly args?: readonly string[];
  readonly env?: Record<string, string>;
}

export interface ShardvoyProcess {
  readonly run: CliRun;
  readonly baseUrl: string;
  readonly grpcAddress: string;
  readonly grpcPort: number;
  heartbeat(body: Record<string, unknown>): Promise<Response>;
  getJson(path: string): Promise<any>;
  /** The xDS streams shardvoy serves (GET /v1/xds/clients). */
  xdsClients(): Promise<any[]>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
}

/** A folder for a test's files (config, state); removed by the returned function. */
export function scratchDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-e2e-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function startShardvoyProcess(options: ShardvoyProcessOptions = {}): Promise<ShardvoyProcess> {
  const scratch = scratchDir();
  const args = ['serve'];
  let configFile = options.configFile;
  if (options.config) {
    configFile = path.join(scratch.dir, 'shardvoy.json');
    writeFileSync(configFile, JSON.stringify(options.config, null, 2));
  }
  if (configFile) args.push('--config', configFile);
  args.push(...(options.args ?? (configFile ? ['--http', '127.0.0.1:0', '--grpc', '127.0.0.1:0'] : [])));
  const run = runCli(args, options.env);
  try {
    const http = await run.waitForLine((line) => line.service === 'http' && String(line.msg).startsWith('listening'), 30_000);
    const grpc = await run.waitForLine((line) => line.service === 'grpc' && String(line.msg).startsWith('listening'), 30_000);
    const baseUrl = `http://${String(http.address).replace('0.0.0.0', '127.0.0.1')}`;
    const grpcAddress = String(grpc.address).replace('0.0.0.0', '127.0.0.1');
    const getJson = async (p: string) => {
      const response = await fetch(`${baseUrl}${p}`);
      if (!response.ok) throw new Error(`GET ${p}: ${response.status} ${await response.text()}`);
      return response.json();
    };
    const kill = async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (run.child.exitCode === null && run.child.signalCode === null) {
        run.child.kill(signal);
        await run.exited;
      }
    };
    return {
      run,
      baseUrl,
      grpcAddress,
      grpcPort: Number(grpcAddress.slice(grpcAddress.lastIndexOf(':') + 1)),
      heartbeat: (body) => fetch(`${baseUrl}/v1/heartbeat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      getJson,
      xdsClients: async () => (await getJson('/v1/xds/clients')).clients,
      kill,
      stop: async () => {
        await kill('SIGTERM');
        scratch.remove();
      },
    };
  } catch (error) {
    run.child.kill('SIGKILL');
    scratch.remove();
    throw error;
  }
}
