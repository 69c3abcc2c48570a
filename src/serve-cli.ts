/**
 * `shardvoy serve | demo | --help | --version` (cli.ts hands them here): flags and env vars in, a
 * running pipeline out.
 * Exit codes: 0 clean shutdown, 2 bad configuration or flags (one line naming the key), 1 anything else.
 */
import { pino, type Logger } from 'pino';
import { ConfigError } from './config/load.js';
import { startDemoNodes } from './demo/simulated-nodes.js';
import { parseInvocation, resolveConfig, type Invocation } from './invocation.js';
import { startShardvoy } from './main.js';
import { watchFile } from './config/watch-file.js';
import { VERSION } from './version.js';

const USAGE = `shardvoy ${VERSION}: xDS control plane for sharded master/replica clusters

Usage:
  shardvoy serve [--config FILE] [--http HOST:PORT] [--grpc HOST:PORT] [--log-level LEVEL] [--poll-interval SECONDS]
  shardvoy demo  [--config FILE] [--nodes N] [--http HOST:PORT] [--grpc HOST:PORT] [--log-level LEVEL]
  shardvoy agent --server URL[,URL…] --id ID --address HOST:PORT --database DB --shard S --role master|replica [...]
                 (heartbeats for a node that cannot; see shardvoy agent --help)
  shardvoy state import --config FILE [--merge] [--dry-run] STATEFILE
                 (a memory store's state file into the etcd store; see shardvoy state --help)
  shardvoy status|nodes|clients|events|drain ID|undrain ID|forget ID|check [-o FORMAT] [-w] [--server URL]
                 (a running server's operator view and actions; see shardvoy status --help)
  shardvoy --help | --version

Environment: SHARDVOY_CONFIG, SHARDVOY_HTTP, SHARDVOY_GRPC, SHARDVOY_LOG_LEVEL stand for the flags.
`;

const SHUTDOWN_LIMIT_MS = 5_000;

async function run(inv: Invocation, logger: Logger): Promise<void> {
  const config = resolveConfig(inv);
  const shardvoy = await startShardvoy(config, { logger });
  const demo = inv.command === 'demo' ? await startDemoNodes({ shardvoy, count: inv.nodes, logger: logger.child({ component: 'demo' }) }) : undefined;

  const shutdown = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    const limit = setTimeout(() => {
      logger.error(`shutdown took longer than ${SHUTDOWN_LIMIT_MS} ms; exiting`);
      process.exit(1);
    }, SHUTDOWN_LIMIT_MS - 250);
    limit.unref();
    void (async () => {
      await demo?.stop();
      await shardvoy.stop();
      logger.flush();
      process.exit(0);
    })();
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));

  // Hot reload: on SIGHUP, and when the configuration file changes. A bad file is refused and the
  // running configuration stays.
  const reload = (reason: string) => {
    try {
      shardvoy.reload(resolveConfig(inv));
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      logger.error({ reason, error: error.message }, 'configuration reload refused; the running configuration stays');
    }
  };
  process.on('SIGHUP', () => reload('SIGHUP'));
  if (inv.configFile !== undefined) watchFile(inv.configFile, () => reload('file changed'), logger);
}

export async function serveMain(argv: readonly string[]): Promise<void> {
  let inv: Invocation;
  try {
    inv = parseInvocation(argv, process.env);
  } catch (error) {
    process.stderr.write(`shardvoy: ${(error as Error).message} (see shardvoy --help)\n`);
    process.exit(2);
  }
  if (inv.command === 'help') return void process.stdout.write(USAGE);
  if (inv.command === 'version') return void process.stdout.write(`${VERSION}\n`);
  const logger = pino({ level: inv.logLevel, base: { pid: process.pid } });
  try {
    await run(inv, logger);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`shardvoy: ${error.message}\n`);
      process.exit(2);
    }
    logger.fatal({ err: error }, 'shardvoy failed to start');
    logger.flush();
    process.exit(1);
  }
}
