/**
 * The dashboard (contract 15) in a real browser: Debian's Chromium driven by playwright-core,
 * against shardvoy run as its users run it and a real Envoy. The page is opened once and never
 * reloaded; each state reaches it through the event stream: a failover shows the new master
 * within 1 s, a real NACK (Envoy cannot bind a listener whose port is taken) shows in red with
 * Envoy's message, a master that dies leaves its shard red at the top, and self-preservation puts
 * up its banner. The page loads nothing from anywhere but shardvoy and logs no error. A
 * screenshot of each state is written to test-results/dashboard/.
 *
 * With `auth.readToken` set, the page asks for the token, keeps it in the tab's sessionStorage,
 * and sends it as a Bearer header to every read, the event stream included. Across a restart of
 * shardvoy the page says its stream is lost, reconnects by itself and shows the new process.
 */
import net from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, screenshot, watchedPage, type WatchedPage } from '../support/chromium.js';
import { startGroupEnvoy, type EnvoyProcess } from '../support/envoy.js';
import { freePortRun } from '../support/free-ports.js';
import { HeartbeatPump } from '../support/harness.js';
import { startShardvoyProcess, type ShardvoyProcess } from '../support/shardvoy-process.js';
import { printFigure } from '../support/traffic.js';

const LEASE_SECONDS = 2;

/** The rows of a shard's card that list `node` in `part` (master, replica, fenced, expired, inactive). */
const nodeRow = (page: Page, shard: string, part: string, node: string) => page.locator(`[data-shard="${shard}"] tr[data-part="${part}"][data-node="${node}"]`);

/** Reads an event stream as the page does, noting when each event arrived. */
class StreamWatch {
  private readonly controller = new AbortController();
  private readonly seen: Array<{ event: Record<string, unknown>; at: number }> = [];
  private readonly done: Promise<void>;

  constructor(url: string) {
    this.done = (async () => {
      const response = await fetch(url, { signal: this.controller.signal });
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of response.body!) {
        const at = Date.now();
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const data = buffer.slice(0, end).split('\n').find((line) => line.startsWith('data: '));
          buffer = buffer.slice(end + 2);
          if (data) this.seen.push({ event: JSON.parse(data.slice(6)) as Record<string, unknown>, at });
        }
      }
    })().catch(() => undefined);
  }

  /** When the first event matching arrived (waits up to 10 s for it). */
  async when(match: (event: Record<string, unknown>) => boolean): Promise<number> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const found = this.seen.find((s) => match(s.event));
      if (found) return found.at;
      if (Date.now() > deadline) throw new Error('no such event in the stream within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  close(): void {
    this.controller.abort();
  }
}

/** Expects the CSS colour `property` of the first element matching `selector` to be a red. */
async function expectRed(page: Page, selector: string, property: 'color' | 'backgroundColor' | 'borderLeftColor'): Promise<void> {
  const value = await page.locator(selector).first().evaluate((element, p) => getComputedStyle(element)[p], property);
  const [r = 0, g = 0, b = 0] = (value.match(/[0-9.]+/g) ?? []).map(Number);
  expect(r > 150 && g < 80 && b < 80, `${selector} ${property}: ${value}`).toBe(true);
}

/** One Chromium for the file, started while shardvoy starts; each test gets a fresh context. */
let browserStarting: Promise<Browser> | undefined;
const browserFor = () => (browserStarting ??= launchChromium());

afterAll(async () => {
  await (await browserStarting?.catch(() => undefined))?.close();
});

describe('the dashboard, in Chromium, follows shardvoy live', () => {
  let shardvoy: ShardvoyProcess;
  let pump: HeartbeatPump;
  let edge: EnvoyProcess | undefined;
  let batch: EnvoyProcess | undefined;
  let squatter: net.Server;
  let browser: Browser;
  let watched: WatchedPage;
  let page: Page;
  let navigations = 0;
  let reportsNodePorts = 0;
  const shots: Record<string, string> = {};

  beforeAll(async () => {
    void browserFor();
    // Each shard's listeners: its masters on `listen`, its replicas on the port after.
    const [shard0Port, shard1Port, batchPort, reportsPort] = [await freePortRun(2), await freePortRun(2), await freePortRun(2), await freePortRun(2)];
    // The reports group also gives each node a port of its own, advertised at reports.test.
    reportsNodePorts = await freePortRun(8);
    // Something else on the batch Envoy's host holds the port its listener wants: a real NACK.
    squatter = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => squatter.listen(batchPort, '127.0.0.1', resolve));
    shardvoy = await startShardvoyProcess({
      config: {
        registry: { leaseSeconds: LEASE_SECONDS, warmupSeconds: 0 },
        groups: [
          {
            name: 'edge',
            database: 'default',
            shards: [
              { name: 'shard0', listen: `127.0.0.1:${shard0Port}`, clusters: ['shard0-masters', 'shard0-replicas'] },
              { name: 'shard1', listen: `127.0.0.1:${shard1Port}`, clusters: ['shard1-masters', 'shard1-replicas'] },
            ],
          },
          { name: 'batch', database: 'default', shards: [{ name: 'shard1', listen: `127.0.0.1:${batchPort}`, clusters: ['shard1-masters'] }] },
          {
            name: 'reports',
            database: 'default',
            advertisedHost: 'reports.test',
            nodeListeners: { listenHost: '127.0.0.1', ports: `${reportsNodePorts}-${reportsNodePorts + 7}` },
            shards: [{ name: 'shard0', listen: `127.0.0.1:${reportsPort}`, clusters: ['shard0-replicas'] }],
          },
        ],
      },
    });
    pump = new HeartbeatPump(shardvoy, 400);
    const node = (id: string, shard: string, role: string, epoch: number, port: number) => ({ id, address: `127.0.0.1:${port}`, database: 'default', shard, role, epoch });
    await pump.set(node('m1', 'shard0', 'master', 1, 7001));
    await pump.set(node('r1', 'shard0', 'replica', 0, 7002));
    await pump.set(node('m3', 'shard1', 'master', 1, 7003));
    await pump.set(node('r3', 'shard1', 'replica', 0, 7004));
    [edge, browser] = await Promise.all([startGroupEnvoy(shardvoy, 'edge'), browserFor()]);
    watched = await watchedPage(browser, new URL(shardvoy.baseUrl).origin);
    page = watched.page;
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) navigations++;
    });
    await page.goto(`${shardvoy.baseUrl}/ui`);
  });

  afterAll(async () => {
    pump?.stop();
    await watched?.close();
    await Promise.all([edge?.stop(), batch?.stop()]);
    await shardvoy?.stop();
    await new Promise((resolve) => squatter?.close(resolve));
    if (Object.keys(shots).length) printFigure('dashboard screenshots', shots);
  });

  it('shows each shard with its master and replicas, and the Envoy in sync; nothing red', async () => {
    await nodeRow(page, 'default/shard0', 'master', 'm1').waitFor({ timeout: 10_000 });
    await nodeRow(page, 'default/shard0', 'replica', 'r1').waitFor();
    await nodeRow(page, 'default/shard1', 'master', 'm3').waitFor();
    // The edge Envoy, every type acknowledged.
    const client = page.locator('[data-group="edge"] [data-client]');
    // Every type it subscribed to acknowledged (its listeners are TCP proxies: no RDS).
    await expect
      .poll(async () => client.locator('tr[data-type]').evaluateAll((rows) => rows.map((r) => `${r.getAttribute('data-type')}=${r.getAttribute('data-status')}`)), { timeout: 10_000 })
      .toEqual(['cds=SYNCED', 'eds=SYNCED', 'lds=SYNCED']);
    await expect.poll(() => page.locator('[data-stream]').getAttribute('data-stream')).toBe('live');
    expect(await page.locator('.problem.bad').count()).toBe(0);
    // Groups no Envoy has connected for are said, in amber.
    expect(await page.locator('[data-problem="no-envoy"]').allTextContents()).toEqual(['group batch: no Envoy connected', 'group reports: no Envoy connected']);
    expect(await page.locator('[data-group="reports"]').getAttribute('data-state')).toBe('warn');
    // Each node's own port in the group with nodeListeners, as other networks reach it.
    const advertised = await shardvoy.getJson('/v1/advertised?group=reports');
    expect(Object.keys(advertised).sort()).toEqual(['m1', 'm3', 'r1', 'r3']);
    for (const [id, shard] of [['m1', 'shard0'], ['r1', 'shard0'], ['m3', 'shard1'], ['r3', 'shard1']] as const) {
      expect(await page.locator(`[data-shard="default/${shard}"] tr[data-node="${id}"] .port`).textContent()).toBe(`reports → ${advertised[id]}`);
    }
    shots.healthy = await screenshot(page, '1-healthy');
  });

  it('shows a failover (a new master with a higher epoch) within 1 s, without a reload', async () => {
    await page.evaluate(() => ((window as unknown as Record<string, unknown>).notReloaded = true));
    const before = navigations;
    const figures: Array<{ answered: number; streamed: number; inPage: number; shown: number }> = [];
    // The same stream the page reads, read here too: when the server sent the MasterChanged.
    const stream = new StreamWatch(`${shardvoy.baseUrl}/v1/events/stream`);
    try {
      // Three failovers in shard0, each to a master with a higher epoch than the last.
      for (const [id, port, epoch, fenced] of [['m2', 7005, 2, 'm1'], ['m1', 7001, 3, 'm2'], ['m2', 7005, 4, 'm1']] as const) {
        const started = Date.now();
        await pump.set({ id, address: `127.0.0.1:${port}`, database: 'default', shard: 'shard0', role: 'master', epoch });
        const answered = Date.now() - started;
        // Waited for longer than 1 s so that a slow one is measured, not just failed.
        await nodeRow(page, 'default/shard0', 'master', id).waitFor({ timeout: 10_000 });
        const shown = Date.now() - started;
        const streamed = (await stream.when((e) => e.reason === 'MasterChanged' && String(e.message).includes(`master: ${id} (epoch ${epoch})`))) - started;
        const mark = await page.evaluate(() => {
          const entry = performance.getEntriesByName('shardvoy-event').at(-1);
          return entry ? performance.timeOrigin + entry.startTime : 0;
        });
        figures.push({ answered, streamed, inPage: Math.round(mark) - started, shown });
        await nodeRow(page, 'default/shard0', 'fenced', fenced).waitFor({ timeout: 1_000 });
        expect(await page.locator('[data-shard="default/shard0"] tr[data-part="master"]').count()).toBe(1);
      }
    } finally {
      stream.close();
      printFigure('dashboard failover (ms from the new master\'s heartbeat: answered, event out of the stream, event in the page (its last), new master on the page)', figures);
    }
    for (const f of figures) expect(f.shown).toBeLessThan(1_000);
    expect(await page.evaluate(() => (window as unknown as Record<string, unknown>).notReloaded)).toBe(true);
    expect(navigations).toBe(before);
    // The events, live: the three master changes, newest first.
    await expect.poll(() => page.locator('tr[data-event="MasterChanged"]').count()).toBeGreaterThanOrEqual(3);
    expect(await page.locator('tr[data-event="NodeFenced"]').count()).toBeGreaterThanOrEqual(3);
    shots.failover = await screenshot(page, '2-failover');
  });

  it('shows an Envoy that NACKs in red, with its message, at the top', async () => {
    batch = await startGroupEnvoy(shardvoy, 'batch');
    const client = page.locator('[data-group="batch"] [data-client][data-state="bad"]');
    await client.waitFor({ timeout: 15_000 });
    expect(await client.locator('tr[data-type="lds"]').getAttribute('data-status')).toBe('ERROR');
    const message = client.locator('[data-nack="lds"].bad pre');
    await expect.poll(() => message.textContent(), { timeout: 5_000 }).toMatch(/[Aa]ddress already in use/);
    // Red: the client's block, its ERROR badge, and the problem line at the top, which quotes Envoy.
    await expectRed(page, '[data-group="batch"] [data-client][data-state="bad"]', 'borderLeftColor');
    await expectRed(page, '[data-group="batch"] tr[data-type="lds"] .badge', 'backgroundColor');
    const problem = page.locator('[data-problem="nack"]');
    expect(await problem.textContent()).toMatch(/group batch\) rejects lds .*[Aa]ddress already in use/);
    await expectRed(page, '[data-problem="nack"]', 'color');
    // Red groups come first.
    expect(await page.locator('[data-group]').first().getAttribute('data-group')).toBe('batch');
    shots.nack = await screenshot(page, '3-nack');
  });

  it('puts a shard whose master died first, in red', async () => {
    pump.silence('m3');
    const card = page.locator('[data-shard="default/shard1"][data-state="no-master"]');
    await card.waitFor({ timeout: LEASE_SECONDS * 1_000 + 5_000 });
    await nodeRow(page, 'default/shard1', 'expired', 'm3').waitFor();
    expect(await page.locator('[data-shard]').first().getAttribute('data-shard')).toBe('default/shard1');
    expect(await page.locator('.problem').first().textContent()).toBe('default/shard1: no routable master (m3 expired)');
    await expectRed(page, '[data-shard="default/shard1"] .badge', 'backgroundColor');
    shots.noMaster = await screenshot(page, '4-no-master');
  });

  it('shows self-preservation engaged in a red banner', async () => {
    // Every node falls silent at once: the likelier fault is the network, so expiry stops.
    for (const id of ['m1', 'm2', 'r1', 'r3']) pump.silence(id);
    const banner = page.locator('[data-banner="self-preservation"]');
    await banner.waitFor({ timeout: LEASE_SECONDS * 1_000 + 5_000 });
    expect(await banner.textContent()).toMatch(/^Self-preservation engaged: expiry is stopped and [0-9]+ silent nodes? stay routable/);
    await expectRed(page, '[data-banner="self-preservation"]', 'backgroundColor');
    await expect.poll(() => page.locator('tr[data-event="SelfPreservationEngaged"]').count()).toBeGreaterThanOrEqual(1);
    shots.selfPreservation = await screenshot(page, '5-self-preservation');
  });

  it('loaded nothing from outside shardvoy, read the event stream, and logged no error', () => {
    const origin = new URL(shardvoy.baseUrl).origin;
    expect(watched.outside).toEqual([]);
    expect(watched.requests.filter((url) => new URL(url).origin !== origin)).toEqual([]);
    expect(watched.requests.filter((url) => url.endsWith('/v1/events/stream'))).toHaveLength(1);
    expect(watched.requests.some((url) => url.endsWith('/ui/vendor/preact.mjs'))).toBe(true);
    expect(watched.errors).toEqual([]);
    expect(navigations).toBe(1);
  });
});

describe('the dashboard with auth.readToken', () => {
  const TOKEN = 'dashboard-read-token-0123456789';
  let shardvoy: ShardvoyProcess;
  let browser: Browser;
  let watched: WatchedPage;

  beforeAll(async () => {
    const port = await freePortRun(2);
    [shardvoy, browser] = await Promise.all([
      startShardvoyProcess({
        config: {
          registry: { warmupSeconds: 0 },
          auth: { readToken: TOKEN, adminToken: 'dashboard-admin-token-0123456789' },
          groups: [{ name: 'edge', database: 'default', shards: [{ name: 'shard0', listen: `127.0.0.1:${port}`, clusters: ['shard0-masters'] }] }],
        },
      }),
      browserFor(),
    ]);
    watched = await watchedPage(browser, new URL(shardvoy.baseUrl).origin);
  });

  afterAll(async () => {
    await watched?.close();
    await shardvoy?.stop();
  });

  it('asks for the token, sends it as a Bearer header only, and follows the stream with it', async () => {
    const { page } = watched;
    const sentTokens: string[] = [];
    page.on('request', (request) => {
      const authorization = request.headers().authorization;
      if (authorization) sentTokens.push(`${new URL(request.url()).pathname} ${authorization}`);
    });
    await page.goto(`${shardvoy.baseUrl}/ui`);
    const form = page.locator('[data-form="token"]');
    await form.waitFor({ timeout: 10_000 });
    // A wrong token is refused and asked again.
    await form.locator('input[name="token"]').fill('not-the-token');
    await form.locator('button[type="submit"]').click();
    await page.locator('[data-token="refused"]').waitFor({ timeout: 5_000 });
    shots('token', await screenshot(page, '6-token'));
    await form.locator('input[name="token"]').fill(TOKEN);
    await form.locator('button[type="submit"]').click();
    await page.locator('[data-shard="default/shard0"]').waitFor({ timeout: 5_000 });
    await expect.poll(() => page.locator('[data-stream]').getAttribute('data-stream')).toBe('live');

    // Live through the stream, with the token.
    const response = await fetch(`${shardvoy.baseUrl}/v1/heartbeat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'a1', address: '127.0.0.1:7101', database: 'default', shard: 'shard0', role: 'master', epoch: 1 }),
    });
    expect(response.status).toBe(200);
    await nodeRow(page, 'default/shard0', 'master', 'a1').waitFor({ timeout: 1_000 });
    expect(sentTokens.some((s) => s.startsWith('/v1/events/stream Bearer '))).toBe(true);
    expect(sentTokens.every((s) => s.endsWith(`Bearer ${TOKEN}`) || s.endsWith('Bearer not-the-token'))).toBe(true);
    // Never in a URL, never in a cookie.
    expect(watched.requests.filter((url) => url.includes(TOKEN))).toEqual([]);
    expect(await watched.context.cookies()).toEqual([]);
    expect(await page.evaluate(() => sessionStorage.getItem('shardvoy.readToken'))).toBe(TOKEN);

    // A reload keeps the token for this tab; "forget token" drops it.
    await page.reload();
    await page.locator('[data-shard="default/shard0"]').waitFor({ timeout: 5_000 });
    await page.getByRole('button', { name: 'forget token' }).click();
    await form.waitFor({ timeout: 5_000 });
    expect(await page.evaluate(() => sessionStorage.getItem('shardvoy.readToken'))).toBeNull();

    expect(watched.outside).toEqual([]);
    // Chromium logs each 401 it is answered as a failed resource load; nothing else may be logged.
    expect(watched.errors.filter((e) => !/Failed to load resource: the server responded with a status of 401/.test(e))).toEqual([]);
  });

  function shots(name: string, file: string) {
    printFigure('dashboard screenshot', { [name]: file });
  }
});

describe('the dashboard across a shardvoy restart', () => {
  let shardvoy: ShardvoyProcess | undefined;
  let watched: WatchedPage;

  afterAll(async () => {
    await watched?.close();
    await shardvoy?.stop();
  });

  it('says the stream is lost, reconnects by itself, and shows the new process', async () => {
    const [httpPort, listen] = [await freePortRun(1), await freePortRun(2)];
    const options = {
      config: {
        registry: { warmupSeconds: 0 },
        groups: [{ name: 'edge', database: 'default', shards: [{ name: 'shard0', listen: `127.0.0.1:${listen}`, clusters: ['shard0-masters'] }] }],
      },
      args: ['--http', `127.0.0.1:${httpPort}`, '--grpc', '127.0.0.1:0'],
    };
    let browser: Browser;
    [shardvoy, browser] = await Promise.all([startShardvoyProcess(options), browserFor()]);
    watched = await watchedPage(browser, new URL(shardvoy.baseUrl).origin);
    const { page } = watched;
    const beat = (id: string) =>
      fetch(`${shardvoy!.baseUrl}/v1/heartbeat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id, address: '127.0.0.1:7201', database: 'default', shard: 'shard0', role: 'master', epoch: 1 }),
      });
    expect((await beat('before')).status).toBe(200);
    await page.goto(`${shardvoy.baseUrl}/ui`);
    await nodeRow(page, 'default/shard0', 'master', 'before').waitFor({ timeout: 10_000 });

    await shardvoy.stop();
    shardvoy = undefined;
    await expect.poll(() => page.locator('[data-stream]').getAttribute('data-stream'), { timeout: 5_000 }).toBe('reconnecting');
    await page.locator('[data-problem="stream"]').waitFor();
    printFigure('dashboard screenshot', { reconnecting: await screenshot(page, '7-reconnecting') });

    shardvoy = await startShardvoyProcess(options);
    expect((await beat('after')).status).toBe(200);
    await nodeRow(page, 'default/shard0', 'master', 'after').waitFor({ timeout: 10_000 });
    await expect.poll(() => page.locator('[data-stream]').getAttribute('data-stream')).toBe('live');
    // The new process knows nothing of the old node: it is gone from the page too.
    expect(await nodeRow(page, 'default/shard0', 'master', 'before').count()).toBe(0);
    expect(watched.outside).toEqual([]);
    // While shardvoy was down, each read that failed is logged by Chromium as a failed load, and
    // so is a /readyz answered 503 by the process still starting; nothing else may be logged.
    const expected = /Failed to load resource: (net::ERR_(CONNECTION_REFUSED|EMPTY_RESPONSE|CONNECTION_RESET)|the server responded with a status of 503)/;
    expect(watched.errors.filter((e) => !expected.test(e))).toEqual([]);
  });
});
