/**
 * A vitest setup file (vitest.config.ts): fails a test during which the HTTP app answered
 * something its own GET /openapi.json does not describe (openapi-check.ts collects them).
 */
import { afterEach } from 'vitest';
import { takeMismatches } from './openapi-check.js';

afterEach(() => {
  const found = takeMismatches();
  if (found.length > 0) {
    throw new Error(`${found.length} response(s) do not match GET /openapi.json (src/sources/http/response-schemas.ts):\n  ${found.join('\n  ')}`);
  }
});
