/**
 * Every bootstrap a user is given, judged by Envoy itself (`--mode validate`: the configuration
 * is parsed and every component initialised, nothing listens): the committed files in envoy/,
 * and the ones shardvoy's envoy-bootstrap endpoint makes for each group of the deploy/ examples.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { envoyBootstrapYaml } from '../../src/sources/http/envoy-bootstrap.js';
import { envoyBinary } from '../support/envoy.js';
import { ROOT } from '../support/readme.js';

const run = promisify(execFile);
const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-validate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function validate(file: string): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout, stderr } = await run(envoyBinary(), ['--mode', 'validate', '-c', file, '--disable-hot-restart', '--log-level', 'error']);
    return { ok: true, output: stdout + stderr };
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string };
    return { ok: false, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

describe('bootstraps, as Envoy 1.40 judges them', () => {
  const committed = readdirSync(path.join(ROOT, 'envoy')).filter((f) => f.endsWith('.yaml'));

  it('finds every committed bootstrap, the HA one (xds_cluster listing three instances) among them', () => {
    expect(committed).toEqual(expect.arrayContaining(['envoy.yaml', 'envoy-local.yaml', 'envoy-local-delta.yaml', 'envoy-ha.yaml']));
  });

  it.each(committed)('envoy/%s is valid', async (file) => {
    const result = await validate(path.join(ROOT, 'envoy', file));
    expect(result.output).toContain('OK');
    expect(result.ok).toBe(true);
  });

  const generated = ['config.example.yaml', 'privatelink.yaml', 'agent-groups.yaml', 'config.ha.yaml'].flatMap((example) =>
    loadConfigFile(path.join(ROOT, 'deploy', example))
      .groups.filter((group) => !group.proxyless)
      .map((group) => [example, group] as const),
  );

  it.each(generated)("the bootstrap served for deploy/%s's group %s is valid", async (example, group) => {
    const file = path.join(dir, `${example}-${group.name}.yaml`);
    writeFileSync(file, envoyBootstrapYaml(group, { host: 'shardvoy.example', port: 7979 }, undefined));
    const result = await validate(file);
    expect(result.output).toContain('OK');
    expect(result.ok).toBe(true);
  });

  it('refuses a bootstrap with a misspelt field (the check bites)', async () => {
    const file = path.join(dir, 'misspelt.yaml');
    writeFileSync(file, 'node: {id: x, cluster: x}\nstatic_resources: {clusters: [{name: a, conect_timeout: 1s}]}\n');
    const result = await validate(file);
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/conect_timeout/);
  });
});
