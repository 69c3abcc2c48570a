/** GET /v1/events/stream: Server-Sent Events, live, and resuming after Last-Event-ID. */
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.js';

/** Reads the stream until `count` events have come; returns them and the raw text. */
function readEvents(url: string, count: number, headers: Record<string, string> = {}): Promise<{ events: any[]; text: string; contentType: string | undefined }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
        const events = text
          .split('\n\n')
          .filter((block) => block.includes('data: '))
          .map((block) => ({ ...JSON.parse(/^data: (.*)$/m.exec(block)![1]!), sseId: /^id: (\d+)$/m.exec(block)?.[1] }));
        if (events.length >= count) {
          request.destroy();
          resolve({ events, text, contentType: response.headers['content-type'] });
        }
      });
    });
    request.on('error', (error) => {
      if ((error as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(error);
    });
  });
}

describe('event stream', () => {
  let t: TestApp;
  afterEach(async () => {
    t.watcher.stop();
    await t.app.close();
  });

  it('sends each new event live, and from Last-Event-ID what the ring holds after it', async () => {
    t = await buildTestApp();
    const address = await t.app.listen({ host: '127.0.0.1', port: 0 });
    t.watcher.rebuild();
    const post = (id: string, epoch: number) =>
      t.app.inject({ method: 'POST', url: '/v1/heartbeat', payload: { id, address: `10.0.0.${epoch}:9000`, database: 'default', shard: 'shard0', role: 'master', epoch } });

    const live = readEvents(`${address}/v1/events/stream`, 2);
    await new Promise((r) => setTimeout(r, 100));
    await post('a', 1);
    t.watcher.rebuild();
    const got = await live;
    expect(got.contentType).toContain('text/event-stream');
    expect(got.text.startsWith('retry: 1000\n\n')).toBe(true);
    // The SSE id line is the event's id, so a browser's EventSource resumes by itself.
    expect(got.events.map((e) => [e.sseId, e.id, e.reason])).toEqual([
      ['1', 1, 'NodeRegistered'],
      ['2', 2, 'MasterChanged'],
    ]);
    expect(got.events[0]).toMatchObject({ id: 1, type: 'Normal', regarding: { kind: 'Node', name: 'a' } });

    await post('b', 2);
    t.watcher.rebuild();
    // A reader that saw event 2 gets 3, 4 and 5 (b registered, a fenced, master changed) and nothing before.
    const resumed = await readEvents(`${address}/v1/events/stream`, 3, { 'last-event-id': '2' });
    expect(resumed.events.map((e) => [e.id, e.reason])).toEqual([
      [3, 'NodeFenced'],
      [4, 'NodeRegistered'],
      [5, 'MasterChanged'],
    ]);
    // ?since= works too, for clients that cannot set headers.
    const since = await readEvents(`${address}/v1/events/stream?since=4`, 1);
    expect(since.events.map((e) => e.id)).toEqual([5]);
  });

  it('does not keep the server from closing', async () => {
    t = await buildTestApp();
    const address = await t.app.listen({ host: '127.0.0.1', port: 0 });
    const opened = new Promise<void>((resolve) => http.get(`${address}/v1/events/stream`, (response) => response.once('data', () => resolve())));
    await opened;
    const closed = t.app.close().then(() => 'closed');
    const timeout = new Promise((r) => setTimeout(() => r('hung'), 3_000));
    expect(await Promise.race([closed, timeout])).toBe('closed');
  });
});
