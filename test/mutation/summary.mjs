#!/usr/bin/env node
/**
 * Scores per folder from a Stryker report (reports/mutation/mutation.json or an incremental
 * file), as test/MUTATION.md records them, and the mutants left alive, file by file.
 *
 *   node test/mutation/summary.mjs [REPORT.json] [--survivors]
 *
 * Score = (killed + timed out) / (killed + timed out + survived + no coverage), Stryker's own;
 * ignored (static) mutants are counted apart.
 */
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--')) ?? 'reports/mutation/mutation.json';
const report = JSON.parse(readFileSync(file, 'utf8'));

const FOLDERS = ['src/xds', 'src/registry', 'src/watcher', 'src/snapshot', 'src/config/reload.ts', 'src/sources/http'];
const folderOf = (name) => FOLDERS.find((f) => name === f || name.startsWith(`${f}/`)) ?? name;
const empty = () => ({ Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, Ignored: 0, CompileError: 0, RuntimeError: 0 });

const byFolder = new Map();
const alive = [];
for (const [name, entry] of Object.entries(report.files)) {
  const folder = folderOf(name);
  const counts = byFolder.get(folder) ?? empty();
  byFolder.set(folder, counts);
  for (const mutant of entry.mutants) {
    counts[mutant.status] = (counts[mutant.status] ?? 0) + 1;
    if (mutant.status === 'Survived' || mutant.status === 'NoCoverage') {
      const { line, column } = mutant.location.start;
      alive.push(`${name}:${line}:${column} ${mutant.status} ${mutant.mutatorName} -> ${JSON.stringify(mutant.replacement ?? '').slice(0, 100)}`);
    }
  }
}

const rows = [...byFolder].sort(([a], [b]) => FOLDERS.indexOf(a) - FOLDERS.indexOf(b));
console.log('| folder | score | killed | timeout | survived | no coverage | ignored (static) |');
console.log('|---|---|---|---|---|---|---|');
for (const [folder, c] of rows) {
  const detected = c.Killed + c.Timeout;
  const valid = detected + c.Survived + c.NoCoverage;
  const score = valid === 0 ? 'n/a' : `${((100 * detected) / valid).toFixed(1)}%`;
  console.log(`| \`${folder}\` | ${score} | ${c.Killed} | ${c.Timeout} | ${c.Survived} | ${c.NoCoverage} | ${c.Ignored} |`);
}
if (args.includes('--survivors')) {
  console.log('');
  for (const line of alive.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))) console.log(line);
}
