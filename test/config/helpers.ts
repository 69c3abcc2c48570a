import { expect } from 'vitest';
import { ConfigError } from '../../src/config/load.js';

/** Runs fn, asserts it throws a ConfigError at exactly keyPath whose reason matches, and returns it. */
export function expectConfigError(fn: () => unknown, keyPath: string, reason: RegExp): ConfigError {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, 'expected a ConfigError to be thrown').toBeInstanceOf(ConfigError);
  const error = thrown as ConfigError;
  expect(error.keyPath).toBe(keyPath);
  expect(error.reason).toMatch(reason);
  expect(error.message).toBe(`config: ${keyPath}: ${error.reason}`);
  expect(error.message).not.toContain('\n');
  return error;
}
