/** Building and starting the HTTP app warns about nothing: a deprecation warning would land on every start's stderr. */
import { expect, it } from 'vitest';
import { buildTestApp } from '../../support/app.js';

it('builds, listens and closes without a process warning', async () => {
  const warnings: string[] = [];
  const record = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
  process.on('warning', record);
  try {
    const { app } = await buildTestApp();
    await app.listen({ host: '127.0.0.1', port: 0 });
    await app.inject({ method: 'GET', url: '/v1/nodes/some-node' });
    await app.close();
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
  } finally {
    process.off('warning', record);
  }
  expect(warnings).toEqual([]);
});
