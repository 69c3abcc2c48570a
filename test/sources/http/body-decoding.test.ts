/**
 * How request bodies are read: Content-Encoding gzip and deflate are undone (identity passes),
 * the 64 KiB limit holds for the decoded body too, other codings and charsets other than UTF-8
 * are refused with 415, and a body that does not decode is a 400; nothing is stored meanwhile.
 */
import { deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../support/app.js';

const BEAT = { id: 'dkv-a1', address: '10.0.0.5:9001', database: 'default', shard: 'shard0', role: 'master' };
const JSON_BODY = Buffer.from(JSON.stringify(BEAT));

describe('request body decoding', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(async () => {
    await t.app.close();
  });

  const post = (headers: Record<string, string>, payload: Buffer | string, url = '/v1/heartbeat') =>
    t.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...headers }, payload });

  it.each([
    ['gzip', gzipSync(JSON_BODY)],
    ['x-gzip', gzipSync(JSON_BODY)],
    ['deflate', deflateSync(JSON_BODY)],
    ['identity', JSON_BODY],
    ['GZip', gzipSync(JSON_BODY)],
    ['gzip, identity', gzipSync(JSON_BODY)],
    ['deflate, gzip', gzipSync(deflateSync(JSON_BODY))],
  ])('accepts a heartbeat with content-encoding %j', async (coding, payload) => {
    t.registry.forget('dkv-a1');
    const response = await post({ 'content-encoding': coding }, payload);
    expect([response.statusCode, response.json()]).toEqual([200, { leaseSeconds: 10, advertised: {} }]);
    expect(t.registry.get('dkv-a1')?.address).toBe('10.0.0.5:9001');
  });

  it.each([
    ['gzip over a plain JSON body', 'gzip', JSON_BODY],
    ['deflate over a plain JSON body', 'deflate', JSON_BODY],
    ['a truncated gzip body', 'gzip', gzipSync(JSON_BODY).subarray(0, 20)],
  ])('refuses %s with 400 naming content-encoding, storing nothing', async (_case, coding, payload) => {
    t.registry.forget('dkv-a1');
    const response = await post({ 'content-encoding': coding }, payload);
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ statusCode: 400, error: 'Bad Request', message: expect.stringMatching(/^content-encoding: .*not valid/) });
    expect(t.registry.get('dkv-a1')).toBeUndefined();
  });

  it('refuses a body over 64 KiB once decoded (a zip bomb) with 413', async () => {
    const bomb = gzipSync(Buffer.from(JSON.stringify({ ...BEAT, labels: { pad: 'x'.repeat(10_000_000) } })));
    expect(bomb.length).toBeLessThan(64 * 1024);
    const response = await post({ 'content-encoding': 'gzip' }, bomb);
    expect(response.statusCode).toBe(413);
    expect(response.json()).toMatchObject({ statusCode: 413, error: 'Payload Too Large', message: expect.stringContaining('larger than 65536 bytes') });
    expect(t.registry.get('dkv-a1')).toBeUndefined();
  });

  it.each([
    ['/v1/heartbeat', 'br'],
    ['/v1/heartbeat', 'gzip, zstd'],
    ['/v1/registry/resume-expiry', 'compress'],
  ])('refuses %s with content-encoding %j: 415 naming the coding', async (url, coding) => {
    const response = await post({ 'content-encoding': coding }, JSON_BODY, url);
    expect(response.statusCode).toBe(415);
    const unsupported = coding.split(', ').at(-1)!;
    expect(response.json()).toEqual({ statusCode: 415, error: 'Unsupported Media Type', message: `content-encoding: "${unsupported}" is not supported (gzip, deflate or identity)` });
    expect(response.headers['accept-encoding']).toBe('gzip, deflate, identity');
  });

  it.each(['utf-16', 'iso-8859-1', '"utf-16le"'])('refuses content-type charset=%s with 415 naming the charset', async (charset) => {
    t.registry.forget('dkv-a1');
    const response = await post({ 'content-type': `application/json; charset=${charset}` }, JSON_BODY);
    expect(response.statusCode).toBe(415);
    expect(response.json()).toEqual({
      statusCode: 415,
      error: 'Unsupported Media Type',
      message: `content-type: charset "${charset.replaceAll('"', '')}" is not supported; the body must be UTF-8`,
    });
    expect(t.registry.get('dkv-a1')).toBeUndefined();
  });

  it.each(['application/json; charset=utf-8', 'application/json; charset="UTF-8"', 'application/json'])('accepts content-type %j', async (contentType) => {
    const response = await post({ 'content-type': contentType }, JSON_BODY);
    expect(response.statusCode).toBe(200);
  });
});
