#!/usr/bin/env node
/**
 * `shardvoy serve | demo | agent | state | --help | --version`. `agent` (src/agent/) is a sidecar beside
 * every node: it loads only what it needs, not the control plane (serve-cli.ts); `state import`
 * (state-cli.ts) moves a state file into the etcd store; the operator's commands (src/operator/)
 * ask a running server's HTTP API.
 * Exit codes: 0 clean shutdown, 2 bad configuration or flags (one line naming the key), 1 anything else.
 */
import { isOperatorCommand } from './operator/names.js';

const argv = process.argv.slice(2);
if (argv[0] === 'agent') {
  const { agentMain } = await import('./agent/command.js');
  await agentMain(argv.slice(1), process.env);
} else if (argv[0] === 'state') {
  const { stateMain } = await import('./state-cli.js');
  await stateMain(argv.slice(1));
} else if (isOperatorCommand(argv[0])) {
  const { operatorMain } = await import('./operator/command.js');
  await operatorMain(argv[0], argv.slice(1), process.env);
} else {
  const { serveMain } = await import('./serve-cli.js');
  await serveMain(argv);
}
