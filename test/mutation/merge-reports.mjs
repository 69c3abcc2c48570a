#!/usr/bin/env node
/**
 * Merges Stryker reports of runs over different folders (`--mutate 'src/xds/**'` ...) into one
 * incremental file, so that `npm run test:mutation` re-tests only what changed since any of them.
 * Stryker numbers tests and mutants per run; here they are numbered afresh, and each mutant's
 * coveredBy / killedBy follow its tests by (test file, test name).
 *
 *   node test/mutation/merge-reports.mjs OUT.json IN.json [IN.json ...]
 *
 * A later input wins for a source file or test file that two of them hold.
 */
import { readFileSync, writeFileSync } from 'node:fs';

const [out, ...inputs] = process.argv.slice(2);
if (!out || inputs.length === 0) {
  console.error('usage: node test/mutation/merge-reports.mjs OUT.json IN.json [IN.json ...]');
  process.exit(2);
}

const reports = inputs.map((file) => JSON.parse(readFileSync(file, 'utf8')));
const testKey = (file, name) => `${file}\u0000${name}`;

// Tests: one id per (file, name) over every input.
const testFiles = {};
const idOfTest = new Map();
for (const report of reports) {
  for (const [file, entry] of Object.entries(report.testFiles ?? {})) {
    const tests = new Map((testFiles[file]?.tests ?? []).map((t) => [t.name, t]));
    for (const test of entry.tests) tests.set(test.name, { ...test });
    testFiles[file] = { ...entry, tests: [...tests.values()] };
  }
}
let nextTest = 0;
for (const [file, entry] of Object.entries(testFiles)) {
  for (const test of entry.tests) {
    test.id = String(nextTest++);
    idOfTest.set(testKey(file, test.name), test.id);
  }
}

// Source files: the mutants of the last input that holds each file, their test ids translated.
const files = {};
let nextMutant = 0;
for (const report of reports) {
  const keyOfOldId = new Map();
  for (const [file, entry] of Object.entries(report.testFiles ?? {})) for (const test of entry.tests) keyOfOldId.set(test.id, testKey(file, test.name));
  const translate = (ids) => (ids ?? []).map((id) => idOfTest.get(keyOfOldId.get(id))).filter((id) => id !== undefined);
  for (const [file, entry] of Object.entries(report.files)) {
    files[file] = {
      ...entry,
      mutants: entry.mutants.map((mutant) => ({
        ...mutant,
        id: String(nextMutant++),
        ...(mutant.coveredBy ? { coveredBy: translate(mutant.coveredBy) } : {}),
        ...(mutant.killedBy ? { killedBy: translate(mutant.killedBy) } : {}),
      })),
    };
  }
}

const last = reports.at(-1);
writeFileSync(out, JSON.stringify({ ...last, files, testFiles }, null, 2) + '\n');
const mutants = Object.values(files).reduce((n, f) => n + f.mutants.length, 0);
console.log(`${out}: ${Object.keys(files).length} source files, ${mutants} mutants, ${nextTest} tests from ${inputs.length} report(s)`);
