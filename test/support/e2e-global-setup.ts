/**
 * Once before the end-to-end suites: find or provision the real peers (contract section 1). A
 * peer that cannot be had fails the run here, with the script's message saying how to provide it.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { removeStaleNamespaces } from './netns.js';
import { ROOT } from './readme.js';

export default function setup(project: TestProject): () => void {
  const envoyBin = execFileSync(path.join(ROOT, 'scripts', 'peers', 'envoy.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  const version = execFileSync(envoyBin, ['--version'], { encoding: 'utf8' }).trim();
  console.log(`e2e: Envoy ${version}`);
  project.provide('envoyBin', envoyBin);
  // ETCD_VERSION=3.6 (or ETCD_BIN) picks another etcd; etcd reads ETCD_* as its own flags, so not here.
  const etcdBin = execFileSync(path.join(ROOT, 'scripts', 'peers', 'etcd.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  const etcdEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('ETCD_')));
  const etcdVersion = execFileSync(etcdBin, ['--version'], { encoding: 'utf8', env: etcdEnv }).split('\n')[0]!.trim();
  console.log(`e2e: ${etcdVersion} (${etcdBin})`);
  project.provide('etcdBin', etcdBin);
  // Debian's Chromium for the dashboard's browser tests (test/support/chromium.ts); no browser download.
  const chromiumBin = execFileSync(path.join(ROOT, 'scripts', 'peers', 'chromium.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  const chromiumVersion = execFileSync(chromiumBin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  console.log(`e2e: ${chromiumVersion} (${chromiumBin})`);
  project.provide('chromiumBin', chromiumBin);
  removeStaleNamespaces();
  return removeStaleNamespaces;
}
