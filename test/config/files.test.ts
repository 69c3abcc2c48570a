import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfigFile, parseConfig } from '../../src/config/load.js';
import { expectConfigError } from './helpers.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const dir = mkdtempSync(join(tmpdir(), 'shardvoy-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const NATIVE_JSON = {
  http: { listen: '127.0.0.1:18082' },
  groups: [{ name: 'g', database: 'db', shards: [{ name: 's0', listen: '127.0.0.1:20000', clusters: ['s0-masters'] }] }],
  clusters: { 's0-masters': { connectTimeout: '250ms' } },
};

describe('loadConfigFile', () => {
  it('reads the native YAML example of contract 3.1', () => {
    const config = loadConfigFile(join(fixtures, 'native.yaml'));
    expect(config.groups).toEqual([
      {
        name: 'local-group',
        dc: 'in-hyderabad-1',
        database: 'default',
        proxyless: false,
        shards: [
          { name: 'shard0', listen: { host: '0.0.0.0', port: 10000 }, clusters: ['shard0-masters', 'shard0-replicas'], protocol: 'tcp' },
        ],
      },
    ]);
    expect(config.clusters).toEqual({ 'shard0-masters': { connectTimeoutMs: 10_000 }, 'shard0-replicas': { connectTimeoutMs: 5_000 } });
    expect(config.registry).toMatchObject({ leaseSeconds: 10, expiredRetentionSeconds: 300, portReuseSeconds: 86_400, stateFile: undefined, warmupSeconds: 10 });
  });

  it('reads the dkvoy seed config from JSON', () => {
    const config = loadConfigFile(join(fixtures, 'dkvoy-seed.json'));
    expect(config.groups[0]?.shards[0]?.protocol).toBe('http2');
    expect(config.groups[0]?.dc).toBe('in-hyderabad-1');
    expect(config.clusters).toEqual({ 'shard0-masters': { connectTimeoutMs: 10_000 } });
  });

  it('reads native JSON and gives the same result as the same object', () => {
    const path = write('native.json', JSON.stringify(NATIVE_JSON, null, 2));
    const config = loadConfigFile(path);
    expect(config).toEqual(parseConfig(NATIVE_JSON));
    expect(config.http.listen).toEqual({ host: '127.0.0.1', port: 18082 });
    expect(config.clusters['s0-masters']?.connectTimeoutMs).toBe(250);
  });

  it('reads dkvoy YAML from .yml, and an upper-case extension', () => {
    const yaml = [
      'appId: local',
      'dc-id: dc1',
      'local.instanceGroups: [g]',
      'local.shards: [shard0]',
      'shard0.listener_addr: "0.0.0.0:10000"',
      'shard0.clusters: [shard0-masters]',
      '',
    ].join('\n');
    expect(loadConfigFile(write('dkvoy.yml', yaml)).groups[0]?.dc).toBe('dc1');
    expect(loadConfigFile(write('UPPER.YAML', yaml)).groups[0]?.name).toBe('g');
  });

  it('accepts a UTF-8 byte order mark', () => {
    expect(loadConfigFile(write('bom.json', `\uFEFF${JSON.stringify(NATIVE_JSON)}`)).groups).toHaveLength(1);
  });

  it('names the file as the source of a content error', () => {
    const path = write('bad-content.yaml', 'groups: []\n');
    const error = expectConfigError(() => loadConfigFile(path), 'groups', /at least one group/);
    expect(error.source).toBe(path);
  });
});

describe('loadConfigFile errors', () => {
  it('bad extension', () => {
    const path = write('config.toml', 'groups = []');
    expectConfigError(() => loadConfigFile(path), path, /^has the unsupported extension "\.toml"; configuration files must end in \.json, \.yaml or \.yml$/);
    const bare = write('config', '{}');
    expectConfigError(() => loadConfigFile(bare), bare, /^has no file extension/);
  });

  it('unreadable file', () => {
    const missing = join(dir, 'missing.yaml');
    expectConfigError(() => loadConfigFile(missing), missing, /^cannot read the file: no such file$/);
    const directory = join(dir, 'a-directory.json');
    mkdirSync(directory);
    expectConfigError(() => loadConfigFile(directory), directory, /^cannot read the file: it is a directory/);
  });

  it('invalid JSON syntax, with line and column', () => {
    const path = write('broken.json', '{\n  "groups": [\n    {"name": "g",}\n  ]\n}\n');
    expectConfigError(() => loadConfigFile(path), path, /^invalid JSON: .* at line 3, column 18$/);
  });

  it('invalid YAML syntax, with line and column', () => {
    const path = write('broken.yaml', 'groups:\n  - name: g\n    shards: [a, b\n');
    expectConfigError(() => loadConfigFile(path), path, /^invalid YAML at line \d+, column \d+: /);
    const tabs = write('tabs.yaml', 'groups:\n\t- name: g\n');
    expectConfigError(() => loadConfigFile(tabs), tabs, /^invalid YAML at line 2, column 1: /);
  });

  it('YAML with a duplicate key or several documents', () => {
    const dup = write('dup.yaml', 'groups: []\ngroups: []\n');
    expectConfigError(() => loadConfigFile(dup), dup, /^invalid YAML at line 2, column 1: Map keys must be unique/);
    const multi = write('multi.yaml', 'groups: []\n---\ngroups: []\n');
    expectConfigError(() => loadConfigFile(multi), multi, /multiple documents/);
  });

  it('empty file', () => {
    const yaml = write('empty.yaml', '  \n');
    expectConfigError(() => loadConfigFile(yaml), yaml, /^the file is empty$/);
    const json = write('empty.json', '');
    expectConfigError(() => loadConfigFile(json), json, /^the file is empty$/);
  });

  it('a file whose top level is not a mapping', () => {
    const comment = write('comment.yaml', '# only a comment\n');
    expectConfigError(() => loadConfigFile(comment), '(root)', /must be a mapping of configuration keys, got null/);
    const list = write('list.yaml', '- groups\n');
    expectConfigError(() => loadConfigFile(list), '(root)', /got a list of 1/);
  });
});
