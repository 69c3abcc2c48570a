/**
 * The operator commands against an API on mTLS (http.tls.requireClientCert): with the CA and a
 * client certificate they are answered; without the certificate, or without the CA, each fails
 * with one line saying which flag is missing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki, type TestPki } from '../support/certs.js';
import { startTestShardvoy, type Running } from '../support/harness.js';
import { runOperatorCli } from './operator-cli.js';

describe('operator commands over mTLS', () => {
  let pki: TestPki;
  let running: Running;
  let server: string;

  beforeAll(async () => {
    pki = makeTestPki();
    running = await startTestShardvoy({
      http: { listen: '127.0.0.1:0', tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.caCert, requireClientCert: true } },
      groups: [{ name: 'edge', shards: [{ name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters'] }] }],
    });
    server = `https://localhost:${running.shardvoy.http.port}`;
  });
  afterAll(() => running.stop());

  const run = async (args: string[], env: Record<string, string> = {}) => {
    const cli = runOperatorCli(args, { SHARDVOY_SERVER: server, NODE_EXTRA_CA_CERTS: '', ...env });
    return { code: await cli.exited, stdout: cli.stdout, stderr: cli.stderr };
  };

  it('answers with the CA and a client certificate, given by flags or by the environment', async () => {
    const byFlags = await run(['nodes', '-o', 'json', '--cacert', pki.caCert, '--cert', pki.clientCert, '--key', pki.clientKey]);
    expect(byFlags.stderr).toBe('');
    expect(byFlags.code).toBe(0);
    expect(JSON.parse(byFlags.stdout)).toEqual({ nodes: [] });
    const byEnv = await run(['nodes', '-o', 'json'], { SHARDVOY_CACERT: pki.caCert, SHARDVOY_CERT: pki.clientCert, SHARDVOY_KEY: pki.clientKey });
    expect(byEnv.code).toBe(0);
  }, 30_000);

  it('says which flag is missing: the client certificate, or the CA', async () => {
    const noCert = await run(['nodes', '--cacert', pki.caCert]);
    expect(noCert.code).toBe(2);
    expect(noCert.stderr).toMatch(/^shardvoy nodes: GET https:\/\/localhost:\d+\/\S+: the server closed the TLS connection \(.+\); if it asks for client certificates \(http.tls.requireClientCert\), give one with --cert and --key/);
    const noCa = await run(['nodes', '--cert', pki.clientCert, '--key', pki.clientKey]);
    expect(noCa.code).toBe(2);
    expect(noCa.stderr).toMatch(/the server's TLS certificate is not trusted \(.+\); for a private CA, give its file with --cacert/);
    // A certificate from another CA: the server refuses the handshake; undici either sees the
    // connection closed or is left waiting, and the request's timeout answers.
    const stranger = await run(['nodes', '--timeout', '2', '--cacert', pki.caCert, '--cert', pki.strangerCert, '--key', pki.strangerKey]);
    expect(stranger.code).toBe(2);
    expect(stranger.stderr).toMatch(/the server closed the TLS connection \(.+\); if it asks for client certificates, is the one given \(--cert or SHARDVOY_CERT\) signed by the CA it trusts \(http.tls.ca\)\?|: cannot reach the server \(no answer within 2000 ms\)/);
  }, 30_000);
});
