/** `shardvoy agent …` from the command line: flags (exit 2 naming a bad one), --help, then the agent. */
import { pino } from 'pino';
import { VERSION } from '../version.js';
import { runAgent } from './agent.js';
import { parseAgentArgs, type AgentCommand } from './flags.js';

export const AGENT_USAGE = `shardvoy agent ${VERSION}: heartbeats for a node that cannot heartbeat itself (contract 13)

Usage:
  shardvoy agent --server URL[,URL…] --id ID --address HOST:PORT --database DB
                 --shard S --role master|replica [--dc DC] [--epoch N] [--label k=v]…
                 [--probe tcp|http://…|exec:CMD] [--role-from http://…|exec:CMD]
                 [--advertised-file PATH] [--template IN:OUT]… [--wait-advertised]
                 [--token TOKEN | --token-file PATH] [--interval SECONDS] [--log-level LEVEL]

  --server URL[,URL…]     shardvoy's HTTP API; several (comma-separated or repeated) for HA:
                          the first that answers takes the heartbeats
  --id, --address, --database, --shard, --role, --dc, --epoch, --label k=v
                          the node's heartbeat fields (POST /v1/heartbeat), --label repeatable
  --probe SPEC            the node's health: tcp (connect to --address, the default),
                          http://… (2xx or 3xx passes) or exec:CMD (exit 0 passes); checked every
                          second; a failure sends status inactive at once, a pass active
  --role-from SPEC        read role and epoch from the node: http://… or exec:CMD printing
                          "master 7" / "replica 7" or {"role": "master", "epoch": 7}; --role and
                          --epoch stand until it answers; unreadable: status inactive
  --advertised-file PATH  each answer's advertised addresses, as JSON {"<group>": "host:port"}
  --template IN:OUT       render IN into OUT: {{advertised.<group>}}, {{advertised.<group>.host}},
                          {{advertised.<group>.port}}; repeatable
  --wait-advertised       exit 0 once those are written (an init step before the node starts)
  --token, --token-file   bearer token for the heartbeat (the file is re-read; never logged)
  --interval SECONDS      time between heartbeats (default: a third of the server's lease)
  --log-level LEVEL       trace, debug, info (default), warn, error, fatal or silent

Runs until SIGTERM or SIGINT, then sends status inactive and exits 0. Bad flags exit 2.
Environment: SHARDVOY_LOG_LEVEL stands for --log-level.
`;

/** `argv`: what follows `agent`. Exits the process. */
export async function agentMain(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<never> {
  let command: AgentCommand;
  try {
    command = parseAgentArgs(argv, env);
  } catch (error) {
    process.stderr.write(`shardvoy agent: ${(error as Error).message} (see shardvoy agent --help)\n`);
    process.exit(2);
  }
  if (command.command === 'agent-help') {
    process.stdout.write(AGENT_USAGE);
    process.exit(0);
  }
  const logger = pino({ level: command.options.logLevel, base: { pid: process.pid } }).child({ component: 'agent', node: command.options.node.id });
  let code: number;
  try {
    code = await runAgent(command.options, logger);
  } catch (error) {
    logger.fatal({ err: error }, 'agent failed');
    code = 1;
  }
  logger.flush();
  process.exit(code);
}
