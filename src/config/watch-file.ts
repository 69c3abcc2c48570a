/**
 * Calls `onChange` when a file's contents change. Editors and Kubernetes ConfigMaps replace a file
 * (write elsewhere, then rename) rather than write it in place, so the folder is watched and
 * events are matched by name, then coalesced: one save is one reload.
 */
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';

const SETTLE_MS = 150;

export function watchFile(file: string, onChange: () => void, logger: Logger): FSWatcher | undefined {
  const name = path.basename(file);
  let timer: NodeJS.Timeout | undefined;
  try {
    const watcher = watch(path.dirname(path.resolve(file)), (_event, changed) => {
      // ConfigMaps swap a "..data" symlink: any change in the folder may be the file's.
      if (changed !== null && changed !== name && !changed.startsWith('..')) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(onChange, SETTLE_MS);
    });
    watcher.unref();
    return watcher;
  } catch (error) {
    logger.warn({ file, err: (error as Error).message }, 'cannot watch the configuration file; reload with SIGHUP');
    return undefined;
  }
}
