/**
 * `shardvoy agent` when servers refuse or fail: a refused token, and stand-in servers that count
 * the requests a 4xx or a 5xx gets. Concurrent: they mostly wait out backoffs.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { eventually } from '../support/harness.js';
import { fixtures, nodeRecord, privatelinkConfig, PROCESS_TIMEOUT_MS, sleep, TOKEN } from './fixtures.js';

describe.concurrent('shardvoy agent when servers refuse or fail', { timeout: PROCESS_TIMEOUT_MS }, () => {
  it("logs a refusal (401, wrong token) with the server's message, does not retry it in a loop, and takes a rotated token at once", async ({ onTestFinished }) => {
    const f = fixtures(onTestFinished);
    const broker = await f.node();
    const shardvoy = await f.shardvoy({ config: privatelinkConfig({ leaseSeconds: 30 }) });
    const wrongToken = path.join(f.dir, 'wrong-token');
    writeFileSync(wrongToken, 'not-the-token\n');
    const run = f.agent(shardvoy.baseUrl, 'refused-1', broker.address, [], { tokenFile: wrongToken });
    const refusal = await run.waitForLine((l) => l.statusCode === 401, 30_000);
    expect(refusal.level).toBe(40);
    expect(refusal.message).toMatch(/token/i);
    expect(refusal.msg).toContain(`refused the heartbeat (401): ${refusal.message}`);
    await sleep(4_000);
    expect(run.lines.filter((l) => l.statusCode === 401).length).toBeLessThanOrEqual(3);
    // The token file is re-read at each look: the right token is a change, tried at once.
    writeFileSync(wrongToken, `${TOKEN}\n`);
    await eventually(async () => expect((await nodeRecord(shardvoy, 'refused-1')).status).toBe('active'), 8_000, 50);
  });

  it('does not retry a 4xx (a shard the server refuses) in a loop, only after a backoff or a change', async ({ onTestFinished }) => {
    const f = fixtures(onTestFinished);
    const standIn = await f.standIn((_request, response) => {
      response.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ statusCode: 400, error: 'Bad Request', message: 'body.shard: no shard "brokers" here' }));
    });
    const broker = await f.node();
    const run = f.agent(standIn.base, 'refused-2', broker.address);
    const refusal = await run.waitForLine((l) => l.statusCode === 400, 30_000);
    expect(refusal.message).toBe('body.shard: no shard "brokers" here');
    const firstAt = standIn.requests[0]!.at;
    await sleep(4_500 - (Date.now() - firstAt));
    // At 0 s, after a backoff of 1.7-3.3 s, then after twice that: two or three in 4.5 s, never more.
    const inWindow = standIn.requests.filter((r) => r.at - firstAt < 4_500).length;
    expect(inWindow).toBeGreaterThanOrEqual(1);
    expect(inWindow).toBeLessThanOrEqual(3);
    expect(JSON.parse(standIn.requests[0]!.body)).toEqual({ id: 'refused-2', address: broker.address, database: 'kafka', shard: 'brokers', role: 'master', status: 'active' });
    expect(standIn.requests[0]!.authorization).toBe(`Bearer ${TOKEN}`);
    // A change (the probe fails) is tried at once, and only once.
    const before = standIn.requests.length;
    await broker.stop();
    await eventually(() => expect(standIn.requests.length).toBe(before + 1), 8_000, 50);
    expect(JSON.parse(standIn.requests[before]!.body).status).toBe('inactive');
    await sleep(1_000);
    expect(standIn.requests.length).toBe(before + 1);
  });

  it('backs off with jitter on 5xx instead of hammering the server', async ({ onTestFinished }) => {
    const f = fixtures(onTestFinished);
    const standIn = await f.standIn((_request, response) => {
      response.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ statusCode: 503, error: 'Service Unavailable', message: 'warming up' }));
    });
    const broker = await f.node();
    const run = f.agent(standIn.base, 'unavailable-1', broker.address);
    await run.waitForLine((l) => String(l.msg).startsWith('no server took the heartbeat'), 30_000);
    const firstAt = standIn.requests[0]!.at;
    await sleep(5_000 - (Date.now() - firstAt));
    const times = standIn.requests.map((r) => r.at - firstAt).filter((t) => t < 5_000);
    // Waits of at least 250, 500, 1000, 1667 ms: at most 5 requests in 5 s.
    expect(times.length).toBeGreaterThanOrEqual(2);
    expect(times.length).toBeLessThanOrEqual(5);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    for (const [i, gap] of gaps.entries()) expect(gap).toBeGreaterThanOrEqual([250, 500, 1_000, 1_666][i]! - 20);
    expect(run.lines.find((l) => l.server === standIn.base)?.error).toBe('HTTP 503: warming up');
  });
});
