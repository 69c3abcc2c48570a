/**
 * Secrets and key material named by the configuration, read once at start so that a missing
 * variable or file is a configuration error naming its key, never a failure hours later.
 * Values are returned, never logged.
 */
import { readFileSync } from 'node:fs';
import type { PathSegment } from './errors.js';
import type { TlsConfig } from './types.js';

type Fail = (segments: readonly PathSegment[], reason: string) => never;
export type TokenSource = string | { env: string } | { file: string };

export function resolveToken(source: TokenSource, at: PathSegment[], fail: Fail, env: NodeJS.ProcessEnv = process.env): string {
  if (typeof source === 'string') return source;
  if ('env' in source) {
    const value = env[source.env];
    if (value === undefined || value.trim() === '') fail([...at, 'env'], `environment variable ${source.env} is not set or empty`);
    return value.trim();
  }
  let text: string;
  try {
    text = readFileSync(source.file, 'utf8');
  } catch (error) {
    fail([...at, 'file'], `cannot read ${source.file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  // Secret files usually end in a newline that is not part of the token.
  const token = text.trim();
  if (token === '') fail([...at, 'file'], `${source.file} is empty`);
  return token;
}

export function readPem(file: string, at: PathSegment[], fail: Fail): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    fail(at, `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (!text.includes('-----BEGIN ')) fail(at, `${file} is not PEM`);
  return text;
}

export function readTls(
  raw: { cert: string; key: string; ca?: string | undefined; requireClientCert?: boolean | undefined },
  at: PathSegment[],
  fail: Fail,
): TlsConfig {
  const requireClientCert = raw.requireClientCert ?? false;
  if (requireClientCert && raw.ca === undefined) fail([...at, 'ca'], 'is required with requireClientCert: the CA that signs client certificates');
  return {
    cert: readPem(raw.cert, [...at, 'cert'], fail),
    key: readPem(raw.key, [...at, 'key'], fail),
    ca: raw.ca === undefined ? undefined : readPem(raw.ca, [...at, 'ca'], fail),
    requireClientCert,
  };
}
