/**
 * Replaces a file so that a crash at any moment leaves either the old or the new one: write a
 * temporary file beside it, fsync, rename over it, fsync the folder.
 *
 * The temporary file is created, never opened: its name is random (a pid-based name can be
 * guessed and planted in advance) and it is opened with O_CREAT|O_EXCL|O_NOFOLLOW, so a symlink
 * or file already at that path makes the write fail instead of overwriting what it points to.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

// O_NOFOLLOW is absent on Windows; O_EXCL alone already refuses an existing symlink there.
const CREATE_EXCLUSIVE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);

/** `<file>.<128 random bits>.tmp`: in the same folder, so the rename stays on one file system. */
export function tempPathFor(file: string): string {
  return `${file}.${randomBytes(16).toString('hex')}.tmp`;
}

export interface AtomicWriteOptions {
  /** The new file's permissions (before the umask). Default 0o600: the state file is nobody else's business. */
  readonly mode?: number;
}

export function writeAtomically(file: string, contents: string, tempPath: (file: string) => string = tempPathFor, options: AtomicWriteOptions = {}): void {
  const temp = tempPath(file);
  const fd = createExclusive(temp, options.mode ?? 0o600);
  try {
    try {
      writeSync(fd, contents);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
  } catch (error) {
    // Ours alone (created exclusively), so removing it cannot remove anyone else's file.
    try {
      unlinkSync(temp);
    } catch {
      // Already renamed, or gone: nothing left behind either way.
    }
    throw error;
  }
  // The rename itself is durable only once the folder's entry is on disk.
  const dir = openSync(path.dirname(file), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

function createExclusive(temp: string, mode: number): number {
  try {
    return openSync(temp, CREATE_EXCLUSIVE, mode);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ELOOP') {
      throw new Error(`temporary file ${temp} already exists (${code}); not writing through it`, { cause: error });
    }
    throw error;
  }
}
