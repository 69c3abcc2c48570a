/**
 * Issue 11, finding 4: junk ids refused by a full registry (429) must not write a line each:
 * 300 refusals write one warning, and the next one after the interval says how many it left out.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { startShardvoy, type Shardvoy } from '../../../src/main.js';

let shardvoy: Shardvoy | undefined;
afterAll(async () => shardvoy?.stop());

it('writes one "registry full" warning for 300 refused heartbeats', async () => {
  const lines: Record<string, any>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  const parsed = parseConfig({ registry: { maxNodes: 1 }, groups: [{ name: 'edge', shards: [{ name: 's0', listen: '127.0.0.1:20000', clusters: ['s0-masters'] }] }] }, 'test');
  shardvoy = await startShardvoy(
    { ...parsed, http: { ...parsed.http, listen: { host: '127.0.0.1', port: 0 } }, grpc: { ...parsed.grpc, listen: { host: '127.0.0.1', port: 0 } }, registry: { ...parsed.registry, warmupSeconds: 0 } },
    { logger: pino({ level: 'info' }, sink) },
  );
  const beat = (id: string) =>
    fetch(`http://127.0.0.1:${shardvoy!.http.port}/v1/heartbeat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id, address: '10.0.0.1:9000', database: 'default', shard: 's0', role: 'master' }),
    });
  expect((await beat('real')).status).toBe(200);
  const statuses = [];
  for (let i = 0; i < 300; i += 50) statuses.push(...(await Promise.all(Array.from({ length: 50 }, (_, j) => beat(`junk-${i + j}`)))).map((r) => r.status));
  expect(new Set(statuses)).toEqual(new Set([429]));
  expect(lines.filter((l) => String(l.msg).startsWith('new node refused: registry full'))).toHaveLength(1);
});
