/** Starts the real pipeline on 127.0.0.1:0 with a silent logger, and talks HTTP to it. */
import { pino } from 'pino';
import { parseConfig } from '../../src/config/load.js';
import type { Config, RegistryConfig } from '../../src/config/types.js';
import { startShardvoy, type Shardvoy } from '../../src/main.js';

export interface Running {
  readonly shardvoy: Shardvoy;
  readonly baseUrl: string;
  readonly grpcAddress: string;
  heartbeat(body: Record<string, unknown>): Promise<Response>;
  getJson(path: string): Promise<any>;
  stop(): Promise<void>;
}

/**
 * Any configuration (either dialect), served on 127.0.0.1 with free ports. No warm-up unless the
 * configuration asks for one: most tests start empty and connect at once. `registry` tweaks what
 * the dkvoy dialect cannot say (its poll interval, say).
 */
export async function startTestShardvoy(rawConfig: Record<string, unknown>, tweaks: { registry?: Partial<RegistryConfig> } = {}): Promise<Running> {
  const parsed = parseConfig(rawConfig, 'test');
  const asked = (rawConfig.registry ?? {}) as Record<string, unknown>;
  const config: Config = {
    ...parsed,
    http: { ...parsed.http, listen: { host: '127.0.0.1', port: 0 } },
    grpc: { ...parsed.grpc, listen: { host: '127.0.0.1', port: 0 } },
    registry: { ...parsed.registry, ...('warmupSeconds' in asked ? {} : { warmupSeconds: 0 }), ...tweaks.registry },
  };
  const shardvoy = await startShardvoy(config, { logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }) });
  const baseUrl = `http://127.0.0.1:${shardvoy.http.port}`;
  return {
    shardvoy,
    baseUrl,
    grpcAddress: `127.0.0.1:${shardvoy.grpc.port}`,
    heartbeat: (body) => fetch(`${baseUrl}/v1/heartbeat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    getJson: async (path) => (await fetch(`${baseUrl}${path}`)).json(),
    stop: () => shardvoy.stop(),
  };
}

/** Heartbeats a set of nodes every `intervalMs`, as live nodes do; a node can be silenced (it "dies"). */
export class HeartbeatPump {
  private readonly bodies = new Map<string, Record<string, unknown>>();
  private readonly acceptedAt = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly running: Pick<Running, 'heartbeat'>, intervalMs = 200) {
    this.timer = setInterval(() => void this.beatAll(), intervalMs);
  }

  async set(body: Record<string, unknown>): Promise<void> {
    this.bodies.set(String(body.id), body);
    const response = await this.running.heartbeat(body);
    if (!response.ok) throw new Error(`heartbeat refused: ${response.status} ${await response.text()}`);
    this.acceptedAt.set(String(body.id), Date.now());
  }

  /** When the last heartbeat of a node was answered 200: its lease ends a lease after (at the latest). */
  lastAcceptedAt(id: string): number | undefined {
    return this.acceptedAt.get(id);
  }

  silence(id: string): void {
    this.bodies.delete(id);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async beatAll(): Promise<void> {
    await Promise.all(
      [...this.bodies.values()].map(async (body) => {
        const response = await this.running.heartbeat(body).catch(() => undefined);
        // Even one answered after the node was silenced extended its lease.
        if (response?.ok) this.acceptedAt.set(String(body.id), Date.now());
      }),
    );
  }
}

/** Retries `check` until it stops throwing or `timeoutMs` passes; for views that follow a debounced rebuild. */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 2_000, intervalMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}
