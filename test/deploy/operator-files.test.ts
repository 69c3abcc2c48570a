/**
 * The files operators monitor shardvoy with (issue 15, item 8): the Grafana dashboard
 * deploy/grafana/shardvoy.json, the Prometheus alerts deploy/prometheus/alerts.yaml and their
 * runbooks docs/runbooks.md. Both parse; every metric their PromQL names is one a running
 * shardvoy serves at GET /metrics (or, for the etcd store's, one registerStoreMetrics makes);
 * every alert links to a runbook paragraph that exists; and, where promtool can be had
 * (scripts/peers/promtool.sh), the rules and the dashboard's queries pass `promtool check rules`
 * and the alerts pass their `promtool test rules` cases (test/deploy/alerts.promtool.yaml).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { registerStoreMetrics } from '../../src/observers/store-metrics.js';
import { startTestShardvoy, type Running } from '../support/harness.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const at = (...parts: string[]) => join(ROOT, ...parts);
const readText = (...parts: string[]) => readFileSync(at(...parts), 'utf8');

const DASHBOARD_FILE = 'deploy/grafana/shardvoy.json';
const ALERTS_FILE = 'deploy/prometheus/alerts.yaml';
const RUNBOOKS_FILE = 'docs/runbooks.md';
const PROMTOOL_CASES = 'test/deploy/alerts.promtool.yaml';

type Json = Record<string, any>;

// ---------------------------------------------------------------------------------------------
// PromQL: the metric names an expression selects

/** Keywords that take a parenthesised list of label names, which are not metrics. */
const LABEL_LIST_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
/** Other keywords, operators spelt as words, and number literals. */
const KEYWORDS = new Set(['offset', 'bool', 'and', 'or', 'unless', 'atan2', 'inf', 'nan']);

/**
 * Every metric name an expression selects: identifiers outside strings, label matchers `{…}`,
 * ranges `[…]` and Grafana variables (`$job`, `${job}`, `$__rate_interval`), that are not followed
 * by `(` or `by (`/`without (` (a function or an aggregation), not a keyword, and not in a `by (…)`-style label list.
 */
function promqlMetricNames(expr: string): string[] {
  const names = new Set<string>();
  const n = expr.length;
  let i = 0;
  const skipString = () => {
    const quote = expr[i++];
    while (i < n && expr[i] !== quote) i += expr[i] === '\\' && quote !== '`' ? 2 : 1;
    i++;
  };
  /** From inside an opening bracket to just past its `close`, strings skipped whole. */
  const skipPast = (close: string) => {
    while (i < n && expr[i] !== close) {
      if (`"'\``.includes(expr[i]!)) skipString();
      else i++;
    }
    i++;
  };
  while (i < n) {
    const c = expr[i]!;
    if (/\s/.test(c)) i++;
    else if (c === '#') while (i < n && expr[i] !== '\n') i++;
    else if (`"'\``.includes(c)) skipString();
    else if (c === '{' || c === '[') {
      i++;
      skipPast(c === '{' ? '}' : ']');
    } else if (c === '$') {
      i++;
      if (expr[i] === '{') skipPast('}');
      else while (i < n && /\w/.test(expr[i]!)) i++;
    } else if (/[0-9.]/.test(c)) {
      // A number (1, 0.5, 1e3, 0x1f) or a duration (5m, 1h30m).
      while (i < n && /[0-9a-zA-Z_.]/.test(expr[i]!)) i++;
    } else if (/[a-zA-Z_:]/.test(c)) {
      const start = i;
      while (i < n && /[a-zA-Z0-9_:]/.test(expr[i]!)) i++;
      const word = expr.slice(start, i);
      while (i < n && /\s/.test(expr[i]!)) i++;
      const keyword = word.toLowerCase();
      if (LABEL_LIST_KEYWORDS.has(keyword)) {
        if (expr[i] === '(') {
          i++;
          skipPast(')');
        }
      } else if (!KEYWORDS.has(keyword) && expr[i] !== '(' && !/^(by|without)\s*\(/i.test(expr.slice(i))) {
        // Not a function or an aggregation (`sum(`, or `sum by (…) (`).
        names.add(word);
      }
    } else i++;
  }
  return [...names].sort();
}

// ---------------------------------------------------------------------------------------------
// What the files say

const dashboard = (): Json => JSON.parse(readText(DASHBOARD_FILE)) as Json;
const alertRules = (): Json[] => ((parse(readText(ALERTS_FILE)) as Json).groups as Json[]).flatMap((g) => g.rules as Json[]);

/** Every panel, rows' nested panels included. */
function panelsOf(board: Json): Json[] {
  return (board.panels as Json[]).flatMap((p) => [p, ...((p.panels as Json[] | undefined) ?? [])]);
}

/** `label_values(selector, label)` -> the selector (a PromQL expression); other variables -> none. */
function variableSelector(variable: Json): string | undefined {
  if (variable.type !== 'query') return undefined;
  const query = typeof variable.query === 'string' ? variable.query : variable.query?.query;
  const match = /^\s*label_values\((.+),\s*[a-zA-Z_]\w*\s*\)\s*$/s.exec(String(query));
  return match?.[1];
}

/** Every PromQL expression of the dashboard, with where it is. */
function dashboardExpressions(board: Json): Array<{ where: string; expr: string }> {
  const fromPanels = panelsOf(board).flatMap((panel) =>
    ((panel.targets as Json[] | undefined) ?? []).map((t) => ({ where: `panel "${panel.title}" ${t.refId}`, expr: String(t.expr) })),
  );
  const fromVariables = (board.templating.list as Json[]).flatMap((v) => {
    const selector = variableSelector(v);
    return selector === undefined ? [] : [{ where: `variable ${v.name}`, expr: selector }];
  });
  return [...fromPanels, ...fromVariables];
}

const alertExpressions = (): Array<{ where: string; expr: string }> => alertRules().map((r) => ({ where: `alert ${r.alert}`, expr: String(r.expr) }));

/** `# TYPE name type` lines of a Prometheus text exposition -> name -> type. */
function exposedTypes(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(match[1]!, match[2]!);
  return types;
}

/** The exposed metric a series name belongs to: itself, or a histogram's (or summary's) base for its _bucket/_sum/_count. */
function exposedMetric(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  const match = /^(.+)_(bucket|sum|count)$/.exec(name);
  if (!match) return undefined;
  const type = types.get(match[1]!);
  if (type === 'histogram' || (type === 'summary' && match[2] !== 'bucket')) return match[1];
  return undefined;
}

/** GitHub's anchor of a Markdown heading. */
function githubSlug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** `## Heading` -> the section's text, in docs/runbooks.md. */
function runbookSections(): Map<string, { heading: string; body: string }> {
  const sections = new Map<string, { heading: string; body: string }>();
  const parts = readText(RUNBOOKS_FILE).split(/^## /m).slice(1);
  for (const part of parts) {
    const newline = part.indexOf('\n');
    const heading = part.slice(0, newline);
    sections.set(githubSlug(heading), { heading, body: part.slice(newline + 1) });
  }
  return sections;
}

// ---------------------------------------------------------------------------------------------

describe('the PromQL tokenizer', () => {
  it('finds the selected metrics and nothing else', () => {
    expect(promqlMetricNames('up')).toEqual(['up']);
    expect(
      promqlMetricNames(
        'histogram_quantile(0.99, sum by (job, le) (rate(a_bucket{job=~"$job", x="y(z) b"}[$__rate_interval] offset 1h))) > on (job) group_left (instance) b:recorded or vector(0)',
      ),
    ).toEqual(['a_bucket', 'b:recorded']);
    expect(promqlMetricNames('sum(rate(c_total[5m])) without (instance) / ignoring(x) d unless e and bool f > 1e3 or inf')).toEqual(['c_total', 'd', 'e', 'f']);
    expect(promqlMetricNames("count(g == 0) or label_replace(h, 'dst', '$1', 'src', '(.*)') # comment i")).toEqual(['g', 'h']);
    expect(promqlMetricNames('absent(j) and on () k @ start()')).toEqual(['j', 'k']);
    expect(promqlMetricNames('${v} * max_over_time(l[10m:1m])')).toEqual(['l']);
  });
});

describe('the Grafana dashboard', () => {
  it('parses, on a current Grafana, with a Prometheus data source variable and job and instance variables', () => {
    const board = dashboard();
    expect(board.schemaVersion).toBeGreaterThanOrEqual(39);
    expect(board.uid).toBe('shardvoy');
    const variables = new Map((board.templating.list as Json[]).map((v) => [v.name, v]));
    expect(variables.get('datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const name of ['job', 'instance']) {
      expect(variables.get(name)?.type).toBe('query');
      expect(variables.get(name)?.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(variableSelector(variables.get(name)!)).toBeDefined();
    }
    expect(variables.get('instance')).toMatchObject({ includeAll: true, multi: true, allValue: '.*' });
  });

  it('queries Prometheus through the variable in every panel, each selector filtered by job', () => {
    const board = dashboard();
    const panels = panelsOf(board).filter((p) => p.type !== 'row');
    expect(panels.length).toBeGreaterThan(10);
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const panel of panels) {
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect((panel.targets as Json[]).length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets as Json[]) {
        expect(target.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
        expect(target.expr, panel.title).toContain('job=~"$job"');
      }
    }
  });

  it('shows what was asked for: shards without master red above 0, convergence quantiles, the etcd row', () => {
    const board = dashboard();
    const byTitle = new Map(panelsOf(board).map((p) => [p.title, p]));
    const shards = byTitle.get('Shards without a master')!;
    expect(shards.targets[0].expr).toContain('shardvoy_shards_without_master');
    expect(shards.fieldConfig.defaults.thresholds.steps).toEqual([
      { color: 'green', value: null },
      { color: 'red', value: 1 },
    ]);
    const convergence = byTitle.get('Change to ACK (p50, p99)')!;
    expect(convergence.targets.map((t: Json) => /^histogram_quantile\((0\.\d+),/.exec(t.expr)?.[1])).toEqual(['0.5', '0.99']);
    const rows = (board.panels as Json[]).filter((p) => p.type === 'row').map((p) => p.title);
    expect(rows).toContain('etcd store');
    const used = new Set(dashboardExpressions(board).flatMap((e) => promqlMetricNames(e.expr)));
    for (const name of [
      'shardvoy_heartbeats_received_total',
      'shardvoy_nodes',
      'shardvoy_shards_without_master',
      'shardvoy_fenced_masters',
      'shardvoy_self_preservation_engaged',
      'shardvoy_xds_streams',
      'shardvoy_xds_responses_sent_total',
      'shardvoy_xds_nacks_received_total',
      'shardvoy_config_change_to_ack_seconds_bucket',
      'shardvoy_xds_reply_wait_seconds',
      'shardvoy_snapshot_build_seconds_bucket',
      'nodejs_eventloop_lag_p99_seconds',
      'process_resident_memory_bytes',
      'shardvoy_registry_store_reachable',
      'shardvoy_registry_store_unreachable_seconds',
      'shardvoy_registry_store_revision',
      'shardvoy_registry_judge',
    ]) {
      expect(used, name).toContain(name);
    }
  });
});

describe('the Prometheus alerts', () => {
  it('parse as rule groups, each alert named once with a severity, a summary and a runbook', () => {
    const document = parse(readText(ALERTS_FILE)) as Json;
    expect(Array.isArray(document.groups)).toBe(true);
    for (const group of document.groups as Json[]) {
      expect(typeof group.name).toBe('string');
      expect((group.rules as Json[]).length).toBeGreaterThan(0);
    }
    const rules = alertRules();
    const names = rules.map((r) => r.alert);
    expect(new Set(names).size).toBe(names.length);
    for (const rule of rules) {
      expect(typeof rule.expr, rule.alert).toBe('string');
      expect(['critical', 'warning'], rule.alert).toContain(rule.labels?.severity);
      expect(typeof rule.annotations?.summary, rule.alert).toBe('string');
      expect(typeof rule.annotations?.runbook_url, rule.alert).toBe('string');
    }
    for (const asked of [
      'ShardvoyShardWithoutMaster',
      'ShardvoyEnvoyRejectingConfig',
      'ShardvoyEnvoySlowToAck',
      'ShardvoySelfPreservationEngaged',
      'ShardvoyHeartbeatRateDrop',
      'ShardvoyNoEnvoyForGroup',
      'ShardvoyStoreUnreachable',
      'ShardvoyNoJudge',
    ]) {
      expect(names).toContain(asked);
    }
  });

  it('link each alert to its own paragraph of docs/runbooks.md, and the runbooks to nothing else', () => {
    const sections = runbookSections();
    const rules = alertRules();
    for (const rule of rules) {
      const match = /^docs\/runbooks\.md#(.+)$/.exec(rule.annotations.runbook_url);
      expect(match, rule.alert).not.toBeNull();
      const section = sections.get(match![1]!);
      expect(section, `${rule.alert}: no heading with anchor #${match![1]} in ${RUNBOOKS_FILE}`).toBeDefined();
      expect(section!.heading).toBe(rule.alert);
      // One paragraph: what it means, what to check first, what to do.
      expect(section!.body.trim().split(/\n\s*\n/)).toHaveLength(1);
      const text = section!.body.replace(/\s+/g, ' ');
      for (const part of ['**Means:**', '**Check first:**', '**Do:**']) expect(text, `${rule.alert} ${part}`).toContain(part);
    }
    expect([...sections.values()].map((s) => s.heading).sort()).toEqual(rules.map((r) => r.alert).sort());
  });
});

describe('every metric the dashboard and the alerts use', () => {
  let running: Running | undefined;
  let served: Map<string, string>;
  let store: Map<string, string>;

  beforeAll(async () => {
    running = await startTestShardvoy({
      groups: [{ name: 'local-group', shards: [{ name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters', 'shard0-replicas'] }] }],
    });
    expect((await running.heartbeat({ id: 'a', address: '10.0.0.1:9000', database: 'default', shard: 'shard0', role: 'master' })).status).toBe(200);
    const response = await fetch(`${running.baseUrl}/metrics`);
    expect(response.status).toBe(200);
    served = exposedTypes(await response.text());
    // The etcd store's metrics, without an etcd: the registration the server makes with it.
    const registry = new Registry();
    registerStoreMetrics(registry, () => ({ unreachableSinceMs: undefined, revision: 1, isJudge: true }), () => 0);
    store = exposedTypes(await registry.metrics());
  });
  afterAll(async () => {
    await running?.stop();
  });

  it('reads its sources of truth', () => {
    expect(served.get('shardvoy_config_change_to_ack_seconds')).toBe('histogram');
    expect(served.get('process_resident_memory_bytes')).toBe('gauge');
    expect(served.has('shardvoy_registry_judge')).toBe(false); // the memory store has no judge
    expect([...store.keys()].sort()).toEqual([
      'shardvoy_etcd_request_seconds',
      'shardvoy_registry_judge',
      'shardvoy_registry_store_reachable',
      'shardvoy_registry_store_revision',
      'shardvoy_registry_store_unreachable_seconds',
    ]);
  });

  it('is served at GET /metrics, or by the etcd store', () => {
    const known = new Map([...served, ...store]);
    const expressions = [...dashboardExpressions(dashboard()), ...alertExpressions()];
    expect(expressions.length).toBeGreaterThan(20);
    const unknown: string[] = [];
    const used = new Set<string>();
    for (const { where, expr } of expressions) {
      const names = promqlMetricNames(expr);
      expect(names.length, `${where}: no metric in ${expr}`).toBeGreaterThan(0);
      for (const name of names) {
        const metric = exposedMetric(name, known);
        if (metric === undefined) unknown.push(`${where}: ${name}`);
        else used.add(metric);
      }
    }
    expect(unknown).toEqual([]);
    expect(used.size).toBeGreaterThanOrEqual(15);
  });
});

describe('promtool', () => {
  let promtool: string | undefined;
  let why = '';
  beforeAll(() => {
    const found = spawnSync('bash', [at('scripts/peers/promtool.sh')], { encoding: 'utf8', timeout: 180_000 });
    if (found.status === 0) promtool = found.stdout.trim();
    else why = `${found.stderr}${found.error ? String(found.error) : ''}`.trim();
  }, 200_000);

  /** The binary, or skip (fail under CI, where scripts/peers/promtool.sh is expected to fetch it). */
  function need(skip: (note: string) => void): string {
    if (promtool) return promtool;
    if (process.env.CI) throw new Error(`no promtool: ${why}`);
    skip(`no promtool: ${why}`);
    return '';
  }
  const run = (binary: string, args: string[], cwd = ROOT) => spawnSync(binary, args, { cwd, encoding: 'utf8', timeout: 60_000 });

  it('checks the alerting rules', (context) => {
    const binary = need((note) => context.skip(note));
    const result = run(binary, ['check', 'rules', ALERTS_FILE]);
    expect(`${result.stdout}${result.stderr}`, 'promtool check rules').toContain(`SUCCESS: ${alertRules().length} rules found`);
    expect(result.status).toBe(0);
  });

  it('passes the alerts unit tests (test/deploy/alerts.promtool.yaml)', (context) => {
    const binary = need((note) => context.skip(note));
    const result = run(binary, ['test', 'rules', PROMTOOL_CASES]);
    expect(result.status, `${result.stdout}${result.stderr}`).toBe(0);
    expect(result.stdout).toContain('SUCCESS');
  });

  it("parses every query of the dashboard, Grafana's variables replaced", (context) => {
    const binary = need((note) => context.skip(note));
    const expressions = dashboardExpressions(dashboard());
    const substitute = (expr: string) =>
      expr
        .replaceAll('$__rate_interval', '5m')
        .replaceAll('$__interval', '1m')
        .replaceAll('$job', 'shardvoy')
        .replaceAll('$instance', '.*');
    const rules = {
      groups: [{ name: 'dashboard', rules: expressions.map((e, i) => ({ record: `dashboard:query_${i}`, expr: substitute(e.expr), labels: { where: e.where } })) }],
    };
    const dir = mkdtempSync(join(tmpdir(), 'shardvoy-dashboard-'));
    try {
      const file = join(dir, 'dashboard-queries.yaml');
      writeFileSync(file, stringify(rules));
      const result = run(binary, ['check', 'rules', file]);
      expect(result.status, `${result.stdout}${result.stderr}`).toBe(0);
      expect(result.stdout).toContain(`SUCCESS: ${expressions.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
