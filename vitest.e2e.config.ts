import { defineConfig } from 'vitest/config';

// `npm run test:e2e`: the suites against real peers. One file at a time: the scenarios start real
// Envoys and bind fixed ports of the committed bootstraps, and their timings need the cores.
export default defineConfig({
  test: {
    include: ['test/e2e-envoy/**/*.test.ts'],
    globalSetup: ['test/support/e2e-global-setup.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
