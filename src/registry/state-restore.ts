/** Start-up with a state file: load it into the registry, say what was dropped and why, and save from then on. */
import { accessSync, constants, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../config/errors.js';
import type { Clock } from './clock.js';
import type { NodeRegistry } from './registry.js';
import { loadState, StateSaver } from './state-file.js';

/** Loads the state file into the registry (a corrupt one is moved aside) and returns its saver. */
export function restoreState(file: string, registry: NodeRegistry, clock: Clock, logger: Logger): { saver: StateSaver; loaded: boolean } {
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    accessSync(path.dirname(file), constants.W_OK);
  } catch (error) {
    // Better refuse to start than run for hours believing the state is kept.
    throw new ConfigError('registry.stateFile', `cannot write in ${path.dirname(file)}: ${(error as Error).message}`);
  }
  const loaded = loadState(file, clock.now());
  if (loaded.kind === 'loaded') {
    // Entries no heartbeat could have produced, then ports the configuration no longer allows.
    const dropped = [...loaded.dropped, ...registry.restore(loaded.state)];
    for (const { entry, reason } of dropped) logger.warn({ file, entry, reason }, `state file entry dropped: ${entry}: ${reason}`);
    logger.info({ file, nodes: loaded.state.nodes.length, ports: loaded.state.ports.length, dropped: dropped.length }, 'state loaded; every node has a fresh lease');
  } else if (loaded.kind === 'corrupt') {
    logger.error({ file, reason: loaded.reason, movedTo: loaded.movedTo }, 'state file unusable; moved aside, starting without it');
  } else {
    logger.info({ file }, 'no state file yet; starting empty');
  }
  return { saver: new StateSaver(file, registry, logger.child({ component: 'state' })), loaded: loaded.kind === 'loaded' };
}
