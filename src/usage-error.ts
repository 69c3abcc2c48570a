/** What every command's flag parsing shares: a bad flag (exit 2, one line), and the log levels. */
export class UsageError extends Error {}

export const LOG_LEVELS: readonly string[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
