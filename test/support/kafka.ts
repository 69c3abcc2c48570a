/**
 * Real Kafka brokers for the Kafka end-to-end suite (issue 13): Apache Kafka 4.x from
 * scripts/peers/kafka.sh, in KRaft mode on loopback, small heaps. Each broker's server.properties
 * comes from deploy/kafka/: the broker's own values filled in here, then its advertised address
 * rendered by that broker's `shardvoy agent --template … --wait-advertised` before it starts, as
 * the README tells a user to do by hand. Every broker and agent started here is stopped, and
 * every data folder removed, by KafkaCluster.stop().
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { runCli, type CliRun } from './cli-process.js';
import { ROOT } from './readme.js';

const run = promisify(execFile);

/** The Kafka folder (with libs/), provisioned by the project's script (stderr passes through). */
export function kafkaHome(): string {
  return execFileSync(path.join(ROOT, 'scripts', 'peers', 'kafka.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

const JVM = ['-Xms64m', '-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-XX:-UsePerfData', '-Djava.awt.headless=true'];

export interface Broker {
  readonly nodeId: number;
  /** The heartbeat id its agent uses; Envoy's listener and cluster for it are node-<id>. */
  readonly id: string;
  readonly controller: boolean;
  readonly internalPort: number;
  readonly controllerPort: number;
  /** Where the broker's EXTERNAL listener binds (127.0.0.1): the agent's --address, Envoy's upstream. */
  readonly externalPort: number;
  readonly dir: string;
  readonly propertiesFile: string;
  process?: ChildProcess;
  agent?: CliRun;
  log: string;
}

export interface KafkaClusterOptions {
  /** Consecutive free ports, three per broker (INTERNAL, CONTROLLER, EXTERNAL). */
  readonly basePort: number;
  /** How many brokers the run may hold at most (ports are reserved for them). */
  readonly maxBrokers: number;
  /** The first `controllers` brokers are combined broker+controllers, the voters. */
  readonly controllers: number;
  /** The agents' --server. */
  readonly shardvoyUrl: string;
  readonly group: string;
}

export class KafkaCluster {
  readonly home = kafkaHome();
  readonly clusterId = randomUUID().replace(/-/g, '').slice(0, 22);
  readonly dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-kafka-'));
  readonly brokers = new Map<number, Broker>();
  /** Logging to stdout, which start() reads for readiness (KAFKA_HOME's own config may log to files). */
  readonly log4j = path.join(this.dir, 'log4j2.properties');

  constructor(readonly options: KafkaClusterOptions) {
    writeFileSync(
      this.log4j,
      [
        'status = warn',
        'appender.out.type = Console',
        'appender.out.name = STDOUT',
        'appender.out.layout.type = PatternLayout',
        'appender.out.layout.pattern = [%d] %p %m (%c)%n',
        'rootLogger.level = ${sys:kafka.log.level:-INFO}',
        'rootLogger.appenderRef.out.ref = STDOUT',
        '',
      ].join('\n'),
    );
  }

  private ports(nodeId: number) {
    if (nodeId < 1 || nodeId > this.options.maxBrokers) throw new Error(`broker ${nodeId}: only ${this.options.maxBrokers} reserved`);
    const base = this.options.basePort + (nodeId - 1) * 3;
    return { internalPort: base, controllerPort: base + 1, externalPort: base + 2 };
  }

  get voters(): string {
    return Array.from({ length: this.options.controllers }, (_, i) => `${i + 1}@127.0.0.1:${this.ports(i + 1).controllerPort}`).join(',');
  }

  /** The broker's own values in the deploy/kafka/ template: what a user does with sed. */
  private prepare(nodeId: number): Broker {
    const existing = this.brokers.get(nodeId);
    if (existing) return existing;
    const controller = nodeId <= this.options.controllers;
    const ports = this.ports(nodeId);
    const dir = path.join(this.dir, `broker-${nodeId}`);
    mkdirSync(dir, { recursive: true });
    const template = readFileSync(path.join(ROOT, 'deploy', 'kafka', controller ? 'server.properties.template' : 'broker.properties.template'), 'utf8')
      .replaceAll('@NODE_ID@', String(nodeId))
      .replaceAll('@VOTERS@', this.voters)
      .replaceAll('@DATA_DIR@', path.join(dir, 'data'))
      .replaceAll('@INTERNAL_PORT@', String(ports.internalPort))
      .replaceAll('@CONTROLLER_PORT@', String(ports.controllerPort))
      .replaceAll('@EXTERNAL_PORT@', String(ports.externalPort));
    writeFileSync(path.join(dir, 'server.properties.template'), template);
    const broker: Broker = { nodeId, id: `broker-${nodeId}`, controller, ...ports, dir, propertiesFile: path.join(dir, 'server.properties'), log: '' };
    this.brokers.set(nodeId, broker);
    return broker;
  }

  private agentArgs(broker: Broker): string[] {
    return [
      'agent',
      '--server', this.options.shardvoyUrl,
      '--id', broker.id,
      '--address', `127.0.0.1:${broker.externalPort}`,
      '--database', 'kafka',
      '--shard', 'brokers',
      '--role', 'master',
      '--advertised-file', path.join(broker.dir, 'advertised.json'),
      '--template', `${path.join(broker.dir, 'server.properties.template')}:${broker.propertiesFile}`,
      '--log-level', 'warn',
    ];
  }

  /**
   * The init step: the broker's agent registers it and renders its server.properties
   * (`--wait-advertised`); returns the advertised address it was given.
   */
  async renderAdvertised(nodeId: number): Promise<string> {
    const broker = this.prepare(nodeId);
    const init = runCli([...this.agentArgs(broker), '--wait-advertised']);
    const timer = setTimeout(() => init.child.kill('SIGKILL'), 30_000);
    const code = await init.exited;
    clearTimeout(timer);
    if (code !== 0) throw new Error(`agent --wait-advertised for ${broker.id} exited ${code}: ${init.stderr}${init.stdout}`);
    const advertised = JSON.parse(readFileSync(path.join(broker.dir, 'advertised.json'), 'utf8')) as Record<string, string>;
    return advertised[this.options.group]!;
  }

  /** KRaft storage, once per broker (kafka-storage format, with the cluster's id). */
  async format(nodeIds: number[]): Promise<void> {
    await Promise.all(
      nodeIds.map(async (nodeId) => {
        const broker = this.brokers.get(nodeId)!;
        await run('java', [...JVM, `-Dlog4j2.configurationFile=${this.log4j}`, '-Dkafka.log.level=WARN', '-cp', `${this.home}/libs/*`, 'kafka.tools.StorageTool', 'format', '-t', this.clusterId, '-c', broker.propertiesFile, '--ignore-formatted'], { timeout: 60_000 });
      }),
    );
  }

  /** Starts the broker and waits until it says it started. */
  async start(nodeId: number): Promise<void> {
    const broker = this.brokers.get(nodeId)!;
    broker.log = '';
    const child = spawn('java', [...JVM, `-Dlog4j2.configurationFile=${this.log4j}`, '-cp', `${this.home}/libs/*`, 'kafka.Kafka', broker.propertiesFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    broker.process = child;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`broker ${nodeId} did not start in 60 s:\n${broker.log.slice(-4000)}`)), 60_000);
      const onLine = (line: string) => {
        if (broker.log.length < 2_000_000) broker.log += `${line}\n`;
        if (line.includes('Kafka Server started')) {
          clearTimeout(timer);
          resolve();
        }
      };
      createInterface({ input: child.stdout! }).on('line', onLine);
      createInterface({ input: child.stderr! }).on('line', onLine);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`broker ${nodeId} exited (${code ?? signal}) before it started:\n${broker.log.slice(-4000)}`));
      });
    });
  }

  /** The agent that stays beside the broker: renews it, probes its EXTERNAL port. */
  async startAgent(nodeId: number): Promise<void> {
    const broker = this.brokers.get(nodeId)!;
    if (broker.agent && broker.agent.child.exitCode === null) return;
    broker.agent = runCli(this.agentArgs(broker));
  }

  /** The init step, storage, the broker and its agent, for several brokers at once. */
  async startBrokers(nodeIds: number[]): Promise<Map<number, string>> {
    const advertised = new Map<number, string>();
    for (const nodeId of nodeIds) advertised.set(nodeId, await this.renderAdvertised(nodeId));
    await this.format(nodeIds);
    await Promise.all(nodeIds.map((nodeId) => this.start(nodeId)));
    for (const nodeId of nodeIds) await this.startAgent(nodeId);
    return advertised;
  }

  async kill(nodeId: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.brokers.get(nodeId)?.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  }

  /** Every broker (SIGTERM, then SIGKILL) and agent stopped, every data folder removed. */
  async stop(): Promise<void> {
    await Promise.all(
      [...this.brokers.values()].map(async (broker) => {
        await this.kill(broker.nodeId, 'SIGTERM');
        const agent = broker.agent;
        if (agent && agent.child.exitCode === null && agent.child.signalCode === null) {
          agent.child.kill('SIGTERM');
          const killer = setTimeout(() => agent.child.kill('SIGKILL'), 5_000);
          await agent.exited;
          clearTimeout(killer);
        }
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The Kafka client of kafka-netns-client.ts, running inside a network namespace. */
export class NamespaceKafkaClient {
  private seq = 0;
  private readonly waiting = new Map<number, (reply: { result?: any; error?: string }) => void>();
  private stderr = '';

  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      const reply = JSON.parse(line) as { seq: number; result?: any; error?: string };
      this.waiting.get(reply.seq)?.(reply);
      this.waiting.delete(reply.seq);
    });
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-10_000)));
  }

  static async start(namespace: string, bootstrap: string): Promise<NamespaceKafkaClient> {
    const script = path.join(ROOT, 'test', 'support', 'kafka-netns-client.ts');
    const child = spawn('ip', ['netns', 'exec', namespace, process.execPath, '--import', 'tsx', script, bootstrap], {
      cwd: ROOT,
      env: { ...process.env, KAFKAJS_NO_PARTITIONER_WARNING: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const client = new NamespaceKafkaClient(child);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the namespace's Kafka client did not start: ${client.stderr}`)), 30_000);
      client.waiting.set(0, () => {
        clearTimeout(timer);
        resolve();
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the namespace's Kafka client exited (${code ?? signal}): ${client.stderr}`));
      });
    });
    return client;
  }

  call<T = any>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.waiting.set(seq, (reply) => (reply.error !== undefined ? reject(new Error(`${op}: ${reply.error}`)) : resolve(reply.result as T)));
      this.child.stdin!.write(`${JSON.stringify({ seq, op, ...args })}\n`);
    });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin!.end();
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  }
}
