import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The suites against real peers run with `npm run test:e2e` (vitest.e2e.config.ts).
    exclude: ['test/e2e-envoy/**', 'node_modules/**'],
    // Fails a test whose HTTP responses do not match GET /openapi.json (test/support/openapi-check.ts).
    setupFiles: ['test/support/openapi-setup.ts'],
    // Integration tests bind real ports and spawn processes; keep the 2-core machine from thrashing.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
