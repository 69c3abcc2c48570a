/**
 * Golden tests of the translator: each test/golden/<case>/input.yaml (a config and the nodes that
 * heartbeat) must give exactly the resources in <group>.{cds,eds,lds}.json, as proto-JSON.
 * UPDATE_GOLDEN=1 rewrites the expected files instead of checking them, and names each file it
 * changed; review the diff before committing it. With CI set it is refused (test/support/golden-files.ts).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { validateEncoded } from '../../src/envoy-api/pgv.js';
import { SHORT_NAMES, messageNameOf } from '../../src/envoy-api/type-urls.js';
import { assessHealth } from '../../src/registry/health.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { portPools } from '../../src/registry/ports.js';
import { consistencyErrors } from '../../src/snapshot/consistency.js';
import { ALL_TYPES, buildSnapshot, encodeResource } from '../../src/snapshot/snapshot.js';
import { buildTopology } from '../../src/topology/build.js';
import { translateGroup } from '../../src/translator/translate.js';
import { FakeClock } from '../support/fake-clock.js';
import { GoldenFiles, updateRequested } from '../support/golden-files.js';
import { decodeToJson } from '../support/golden-json.js';
import { heartbeat } from '../support/heartbeats.js';

const GOLDEN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'golden');
const golden = new GoldenFiles(updateRequested(), path.resolve(GOLDEN, '..', '..'));
afterAll(() => {
  const report = golden.report();
  if (report) console.log(report);
});

function runCase(dir: string) {
  const input = parse(readFileSync(path.join(dir, 'input.yaml'), 'utf8')) as { config: Record<string, unknown>; nodes: any[] };
  const config = parseConfig(input.config, 'golden');
  const clock = new FakeClock();
  const registry = new MemoryRegistry({ ...config.registry, portPools: portPools(config), clock });
  for (const node of input.nodes) registry.record(heartbeat(node));
  const nodes = registry.list();
  return buildTopology(config, { nodes, health: assessHealth(nodes, clock.now(), registry.leaseMs), ports: registry.ports });
}

// Each case is a folder; files beside them are other goldens (openapi.json: test/sources/http/openapi.test.ts).
const CASES = readdirSync(GOLDEN, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();

describe.each(CASES)('golden case %s', (name) => {
  const dir = path.join(GOLDEN, name);
  const topology = runCase(dir);

  for (const [group, groupTopology] of topology) {
    const resources = translateGroup(groupTopology).map(encodeResource);

    it(`${group}: every resource passes the Envoy validate rules and the snapshot is consistent`, () => {
      const violations = resources.flatMap((r) => validateEncoded(messageNameOf(r.typeUrl), r.value).map((v) => `${r.name}: ${v.path}: ${v.message}`));
      expect(violations).toEqual([]);
      expect(consistencyErrors(buildSnapshot(group, resources))).toEqual([]);
    });

    for (const typeUrl of ALL_TYPES) {
      const file = path.join(dir, `${group}.${SHORT_NAMES[typeUrl]}.json`);
      const actual = resources.filter((r) => r.typeUrl === typeUrl).map((r) => decodeToJson(messageNameOf(typeUrl), r.value));
      if (actual.length === 0 && !existsSync(file)) continue;
      it(`${group}: ${SHORT_NAMES[typeUrl]} matches ${path.basename(file)}`, () => {
        // Rewriting compares nothing (the file would be compared with itself): it only writes.
        if (golden.update) return golden.write(file, actual);
        const expected = golden.expected(file);
        expect(expected, `${file} is missing; run with UPDATE_GOLDEN=1`).toBeDefined();
        expect(actual).toEqual(expected);
      });
    }
  }

  it('translates the same input to the same bytes every time', () => {
    const again = runCase(dir);
    for (const [group, groupTopology] of topology) {
      const first = translateGroup(groupTopology).map(encodeResource).map((r) => r.version);
      const second = translateGroup(again.get(group)!).map(encodeResource).map((r) => r.version);
      expect(second).toEqual(first);
    }
  });
});
