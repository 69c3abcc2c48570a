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
  removeStaleNamespaces();
  return removeStaleNamespaces;
}
