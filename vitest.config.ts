import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The suites against real peers run with `npm run test:e2e` (vitest.e2e.config.ts).
    exclude: ['test/e2e-envoy/**', 'node_modules/**'],
    // Integration tests bind real ports and spawn processes; keep the 2-core machine from thrashing.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
