/**
 * The operator commands against an API on TLS (http.tls): `--cacert` trusts a private CA for the
 * server's certificate, `--cert` and `--key` present a client certificate to a server with
 * http.tls.requireClientCert. The files are read once, at the start; one that cannot be read, or
 * holds no PEM of its kind, is a UsageError naming its flag. Node's fetch takes no certificates of
 * its own, so they go to an undici Agent (undici 6, the major Node 20's fetch is built on).
 */
import { readFileSync } from 'node:fs';
import { Agent } from 'undici';
import { UsageError } from '../usage-error.js';

export interface ClientTls {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

/** Each file as given by its flag, else by its environment variable (the name kept for messages). */
export interface ClientTlsFiles {
  readonly cacert?: { readonly path: string; readonly from: string } | undefined;
  readonly cert?: { readonly path: string; readonly from: string } | undefined;
  readonly key?: { readonly path: string; readonly from: string } | undefined;
}

export function readClientTls(files: ClientTlsFiles): ClientTls | undefined {
  if (files.cert && !files.key) throw new UsageError(`${files.cert.from}: needs the certificate's private key too (--key or SHARDVOY_KEY)`);
  if (files.key && !files.cert) throw new UsageError(`${files.key.from}: needs the client certificate too (--cert or SHARDVOY_CERT)`);
  const ca = files.cacert && pem(files.cacert, 'CERTIFICATE');
  const cert = files.cert && pem(files.cert, 'CERTIFICATE');
  const key = files.key && pem(files.key, 'PRIVATE KEY');
  if (ca === undefined && cert === undefined) return undefined;
  return { ...(ca === undefined ? {} : { ca }), ...(cert === undefined ? {} : { cert, key: key! }) };
}

/** What fetch sends through, for a client with these certificates. */
export function tlsDispatcher(tls: ClientTls): Agent {
  return new Agent({ connect: { ...tls } });
}

function pem(file: { readonly path: string; readonly from: string }, kind: 'CERTIFICATE' | 'PRIVATE KEY'): string {
  let text: string;
  try {
    text = readFileSync(file.path, 'utf8');
  } catch (error) {
    throw new UsageError(`${file.from}: cannot read ${file.path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  // "BEGIN PRIVATE KEY", "BEGIN RSA PRIVATE KEY", "BEGIN EC PRIVATE KEY" alike.
  if (!new RegExp(`-----BEGIN [A-Z ]*${kind}-----`).test(text)) {
    throw new UsageError(`${file.from}: ${file.path} holds no PEM ${kind === 'CERTIFICATE' ? 'certificate' : 'private key'}`);
  }
  return text;
}
