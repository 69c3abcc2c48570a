/**
 * `shardvoy agent` running: looks at the node, heartbeats for it, writes what the answers
 * advertise; on SIGTERM or SIGINT sends one `status: inactive` heartbeat and ends with 0. With
 * --wait-advertised it ends with 0 as soon as every output is written (an init step).
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { systemClock } from '../registry/clock.js';
import { parseHostPort } from '../util/host-port.js';
import { AdvertisedOutputs } from './advertised-output.js';
import type { AgentOptions } from './flags.js';
import { postHeartbeat } from './heartbeat-client.js';
import { HeartbeatLoop, sleep } from './heartbeat-loop.js';
import { stopCommands } from './node-query.js';
import { NodeObserver } from './observe.js';
import { makeProbe } from './probe.js';
import { makeRoleReader } from './role-from.js';

/** Resolves with the exit code. */
export async function runAgent(options: AgentOptions, logger: Logger): Promise<number> {
  const address = parseHostPort(options.node.address);
  if (!address.ok) throw new Error(`--address: ${address.reason}`); // checked by the flags already
  const observer = new NodeObserver(options.node, makeProbe(options.probe, address.value), options.roleFrom && makeRoleReader(options.roleFrom), logger);
  const outputs = new AdvertisedOutputs(options.advertisedFile, options.templates, logger);
  const loop = new HeartbeatLoop({
    servers: options.servers,
    send: postHeartbeat,
    observe: (timeoutMs) => observer.observe(timeoutMs),
    token: tokenReader(options, logger),
    onAnswer: (answer) => (outputs.update(answer.advertised) && options.waitAdvertised ? 'done' : undefined),
    clock: systemClock,
    sleep,
    intervalSeconds: options.intervalSeconds,
    logger,
  });

  let signalled: string | undefined;
  const onSignal = (signal: string) => {
    if (signalled !== undefined) return;
    signalled = signal;
    logger.info({ signal }, 'shutting down: sending status inactive');
    loop.stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  logger.info(
    {
      servers: options.servers.map((s) => s.label),
      heartbeat: { ...options.node },
      probe: options.probe,
      roleFrom: options.roleFrom,
      advertisedFile: options.advertisedFile,
      templates: options.templates.map((t) => `${t.input}:${t.output}`),
      waitAdvertised: options.waitAdvertised,
      token: options.token === undefined ? 'none' : options.token.kind === 'file' ? `file ${options.token.path}` : 'given',
      intervalSeconds: options.intervalSeconds,
    },
    `agent for node ${options.node.id} starting`,
  );
  try {
    await loop.run();
  } finally {
    stopCommands();
  }
  if (signalled === undefined) {
    // --wait-advertised: the node is not up yet; the agent beside it takes over from here.
    logger.info({ advertisedFile: options.advertisedFile, templates: options.templates.map((t) => t.output) }, 'advertised addresses written; exiting');
    return 0;
  }
  const last = loop.lastObserved ?? { ...options.node };
  await loop.sendFinal({ ...last, status: 'inactive' });
  logger.info('stopped');
  return 0;
}

/** --token as given, or --token-file read at each heartbeat (the last good one if it cannot be). Never logged. */
function tokenReader(options: AgentOptions, logger: Logger): () => string | undefined {
  const source = options.token;
  if (source === undefined) return () => undefined;
  if (source.kind === 'inline') return () => source.token;
  let last: string | undefined;
  let failing = false;
  return () => {
    try {
      const token = readFileSync(source.path, 'utf8').trim();
      if (token === '') throw new Error('the file is empty');
      last = token;
      if (failing) logger.info({ tokenFile: source.path }, `token file ${source.path} readable again`);
      failing = false;
    } catch (error) {
      if (!failing) logger.error({ tokenFile: source.path, error: (error as Error).message }, `cannot read token file ${source.path}; keeping the last token read`);
      failing = true;
    }
    return last;
  };
}
