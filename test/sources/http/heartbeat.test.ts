/**
 * POST /v1/heartbeat: every field rule of the contract, each bad input refused with a 4xx naming
 * the field, and nothing stored: the registry is byte-for-byte what it was.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../support/app.js';

const GOOD = { id: 'dkv-a1', address: '10.0.0.5:9001', database: 'default', shard: 'shard0', role: 'master', status: 'active', dc: 'dc1', epoch: 3, labels: { rack: 'r1' } };

function without<K extends keyof typeof GOOD>(key: K) {
  const copy: Record<string, unknown> = { ...GOOD };
  delete copy[key];
  return copy;
}

/** GOOD with the epoch written exactly as `literal`. */
function withEpoch(literal: string): string {
  return JSON.stringify(GOOD).replace('"epoch":3', `"epoch":${literal}`);
}

/** [case, body (object or raw string), expected status, text the message must contain] */
const BAD: Array<[string, unknown, number, string]> = [
  ['missing address', without('address'), 400, 'body.address: is required'],
  ['missing database', without('database'), 400, 'body.database: is required'],
  ['missing shard', without('shard'), 400, 'body.shard: is required'],
  ['missing role', without('role'), 400, 'body.role: is required'],
  ['address without port', { ...GOOD, address: '10.0.0.5' }, 400, 'body.address'],
  ['port 0', { ...GOOD, address: '10.0.0.5:0' }, 400, 'body.address: port 0 is outside 1..65535'],
  ['port 70000', { ...GOOD, address: '10.0.0.5:70000' }, 400, 'body.address: port 70000'],
  ['non-numeric port', { ...GOOD, address: '10.0.0.5:http' }, 400, 'body.address'],
  // 127.0.0.1:09201 would be the same node as 127.0.0.1:9201 under a second address and id.
  ['port with a leading zero', { ...GOOD, address: '127.0.0.1:09201' }, 400, 'body.address: port "09201" has a leading zero'],
  ['port 00080 on IPv6', { ...GOOD, address: '[::1]:00080' }, 400, 'body.address: port "00080" has a leading zero'],
  ['bad IPv4', { ...GOOD, address: '300.1.1.1:80' }, 400, 'body.address'],
  ['unbracketed IPv6', { ...GOOD, address: 'fd00::1:80' }, 400, 'body.address'],
  ['bad DNS label', { ...GOOD, address: '-bad-.example:80' }, 400, 'body.address'],
  ['address a number', { ...GOOD, address: 9001 }, 400, 'body.address: must be string'],
  ['129-char id', { ...GOOD, id: 'a'.repeat(129) }, 400, 'body.id'],
  ['empty id', { ...GOOD, id: '' }, 400, 'body.id'],
  ['id with a space', { ...GOOD, id: 'dkv a1' }, 400, 'body.id'],
  ['id with a control character', { ...GOOD, id: 'dkv\u0001' }, 400, 'body.id'],
  ['shard with a slash', { ...GOOD, shard: 'shard/0' }, 400, 'body.shard'],
  ['65-char database', { ...GOOD, database: 'd'.repeat(65) }, 400, 'body.database'],
  ['unknown role', { ...GOOD, role: 'leader' }, 400, 'body.role'],
  ['role in capitals', { ...GOOD, role: 'MASTER' }, 400, 'body.role'],
  ['unknown status', { ...GOOD, status: 'up' }, 400, 'body.status'],
  ['dc with a space', { ...GOOD, dc: 'dc 1' }, 400, 'body.dc'],
  ['negative epoch', { ...GOOD, epoch: -1 }, 400, 'body.epoch'],
  ['fractional epoch', { ...GOOD, epoch: 1.5 }, 400, 'body.epoch: must be integer'],
  ['epoch beyond 2^53-1', { ...GOOD, epoch: 2 ** 53 }, 400, 'body.epoch'],
  ['epoch as a string', { ...GOOD, epoch: '3' }, 400, 'body.epoch: must be integer'],
  // JSON.parse reads these as integers (0, 0, 1e300 is caught by the range); the rule is on what was written.
  ['epoch 1e-400', withEpoch('1e-400'), 400, 'body.epoch: must be written as an integer'],
  ['epoch 0.000…1', withEpoch(`0.${'0'.repeat(400)}1`), 400, 'body.epoch: must be written as an integer'],
  ['epoch 1e300', withEpoch('1e300'), 400, 'body.epoch'],
  ['epoch 1.0', withEpoch('1.0'), 400, 'body.epoch: must be written as an integer'],
  ['epoch 3e0', withEpoch('3e0'), 400, 'body.epoch: must be written as an integer'],
  ['epoch -0', withEpoch('-0'), 400, 'body.epoch: must be written as an integer'],
  ['epoch 9007199254740991.4', withEpoch('9007199254740991.4'), 400, 'body.epoch: must be written as an integer'],
  ['33 labels', { ...GOOD, labels: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])) }, 400, 'body.labels: must have at most 32 entries'],
  ['label value too long', { ...GOOD, labels: { rack: 'r'.repeat(257) } }, 400, 'body.labels.rack'],
  ['label value not a string', { ...GOOD, labels: { rack: 1 } }, 400, 'body.labels.rack: must be string'],
  ['label key too long', { ...GOOD, labels: { ['k'.repeat(257)]: 'v' } }, 400, 'body.labels'],
  ['unknown field', { ...GOOD, colour: 'blue' }, 400, 'body.colour: unknown field'],
  ['body an array', [GOOD], 400, 'body: must be object'],
  ['body null', 'null', 400, 'body'],
  ['invalid JSON', '{"id": ', 400, 'body:'],
  ['empty body', '', 400, 'body: is empty'],
  ['65 KiB body', { ...GOOD, labels: { pad: 'x'.repeat(66 * 1024) } }, 413, 'body: larger than 65536 bytes'],
];

describe('POST /v1/heartbeat', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(() => t.app.close());

  it('stores a valid heartbeat with its defaults and answers with the lease', async () => {
    const response = await t.app.inject({ method: 'POST', url: '/v1/heartbeat', payload: { address: '10.0.0.7:9001', database: 'default', shard: 'shard0', role: 'replica' } });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ leaseSeconds: 10, advertised: {} });
    expect(t.registry.get('10.0.0.7:9001')).toMatchObject({ id: '10.0.0.7:9001', status: 'active', epoch: 0, labels: {}, dc: undefined });
  });

  it('accepts bracketed IPv6 and DNS-name hosts', async () => {
    for (const address of ['[fd00::7]:9001', 'dkv-3.shard0.svc.cluster.local:9001']) {
      const response = await t.app.inject({ method: 'POST', url: '/v1/heartbeat', payload: { ...GOOD, id: undefined, address } });
      expect(response.statusCode, response.body).toBe(200);
    }
  });

  it.each(BAD)('refuses %s, naming the field, and stores nothing', async (_name, body, status, text) => {
    const before = JSON.stringify(t.registry.list());
    const response = await t.app.inject({
      method: 'POST',
      url: '/v1/heartbeat',
      headers: { 'content-type': 'application/json' },
      payload: typeof body === 'string' ? body : JSON.stringify(body),
    });
    expect(response.statusCode).toBe(status);
    const error = response.json();
    expect(Object.keys(error).sort()).toEqual(['error', 'message', 'statusCode']);
    expect(error.statusCode).toBe(status);
    expect(error.message).toContain(text);
    expect(JSON.stringify(t.registry.list())).toBe(before);
  });

  it('refuses a body that is not JSON with 415', async () => {
    const before = JSON.stringify(t.registry.list());
    const response = await t.app.inject({ method: 'POST', url: '/v1/heartbeat', headers: { 'content-type': 'text/plain' }, payload: 'id=dkv-a1' });
    expect(response.statusCode).toBe(415);
    expect(response.json().message).toContain('content-type');
    expect(JSON.stringify(t.registry.list())).toBe(before);
  });

  it('takes an epoch written as digits, up to 2^53-1, and the last of two epochs as JSON.parse does', async () => {
    for (const [payload, epoch] of [
      [withEpoch('9007199254740991'), 2 ** 53 - 1],
      [withEpoch('0'), 0],
      [withEpoch(' 7 '), 7],
      [withEpoch('1e-400, "epoch": 5'), 5],
    ] as const) {
      const response = await t.app.inject({ method: 'POST', url: '/v1/heartbeat', headers: { 'content-type': 'application/json' }, payload });
      expect(response.statusCode, response.body).toBe(200);
      expect(t.registry.get('dkv-a1')?.epoch).toBe(epoch);
    }
  });

  it('reads the epoch as written in a gzip body too', async () => {
    for (const [literal, status] of [['1e-400', 400], ['5', 200]] as const) {
      const payload = gzipSync(withEpoch(literal));
      const response = await t.app.inject({ method: 'POST', url: '/v1/heartbeat', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, payload });
      expect(response.statusCode, response.body).toBe(status);
    }
  });

  it('names the address and the epoch when both are wrong beyond the schema', async () => {
    const payload = JSON.stringify({ ...GOOD, address: '10.0.0.5:090' }).replace('"epoch":3', '"epoch":1e-400');
    const response = await t.app.inject({ method: 'POST', url: '/v1/heartbeat', headers: { 'content-type': 'application/json' }, payload });
    expect(response.statusCode).toBe(400);
    expect(response.json().message).toMatch(/body\.address: .*; body\.epoch: /);
  });

  it('reports every bad field of one request, not only the first', async () => {
    const response = await t.app.inject({ method: 'POST', url: '/v1/heartbeat', payload: { ...GOOD, role: 'boss', epoch: -2, extra: 1 } });
    const message: string = response.json().message;
    expect(message).toContain('body.role');
    expect(message).toContain('body.epoch');
    expect(message).toContain('body.extra: unknown field');
  });
});
