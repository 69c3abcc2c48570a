// Mutation testing (test/MUTATION.md): `npm run test:mutation`, or one folder at a time with
// `npm run test:mutation -- --mutate 'src/registry/**/*.ts'`. Not part of .ci/run: too slow for
// every stop; run it before merging a change to the stages below, and record the scores.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  // The stages that carry the promises (issue 12).
  mutate: [
    'src/xds/**/*.ts',
    'src/registry/**/*.ts',
    'src/watcher/**/*.ts',
    'src/snapshot/**/*.ts',
    'src/config/reload.ts',
    'src/sources/http/**/*.ts',
  ],
  testRunner: 'vitest',
  // The unit, conformance and integration suites, as vitest.config.ts has them (so without
  // test/e2e-envoy: real Envoys on fixed ports, `npm run test:e2e`), less the files that only
  // drive child processes, where no mutant is ever active (vitest.mutation.config.ts).
  vitest: { configFile: 'vitest.mutation.config.ts' },
  // Each mutant runs only the tests that reach it.
  coverageAnalysis: 'perTest',
  // A module-level mutant (a constant, a compiled schema) needs every test re-run in a fresh
  // process: hundreds of full runs. They are left out and counted in test/MUTATION.md instead.
  ignoreStatic: true,
  // Results are kept per mutant and per test; a later run re-tests only what changed since.
  incremental: true,
  incrementalFile: 'test/mutation/stryker-incremental.json',
  // Two cores: one test runner per core. The suites bind ports and spawn processes of their own.
  concurrency: 2,
  // A mutant is a timeout when its tests take twice their dry-run time plus 15 s: room for a
  // machine shared with other work, where a tighter bound counts slow runs as kills.
  timeoutMS: 15_000,
  timeoutFactor: 2,
  // The sandbox is a copy of the project; nothing of these is needed there.
  ignorePatterns: ['.peers', 'dist', 'coverage', 'reports', 'test/e2e-envoy', 'test/mutation'],
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0, reportScoreTable: true, reportMutants: true },
  // Goals: 85% in src/xds and src/registry, 75% elsewhere (test/MUTATION.md). The run reports,
  // it does not fail: the per-folder scores are judged there.
  thresholds: { high: 85, low: 75, break: null },
};
