/** Advertised addresses in the heartbeat response and GET /v1/advertised, for the agent-group layout. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { buildTestApp, type TestApp } from '../../support/app.js';

describe('advertised addresses (deploy/agent-groups.yaml)', () => {
  let t: TestApp;
  beforeAll(async () => {
    const { registry: _stateless, ...layout } = parse(readFileSync('deploy/agent-groups.yaml', 'utf8'));
    t = await buildTestApp(layout);
  });
  afterAll(() => t.app.close());

  const beat = (id: string) =>
    t.app.inject({ method: 'POST', url: '/v1/heartbeat', payload: { id, address: `10.0.0.${id.slice(-1)}:9092`, database: 'agents', shard: 'pool0', role: 'master' } });

  it('answers each agent with its address in every group that advertises it', async () => {
    expect((await beat('agent-1')).json().advertised).toEqual({ vpc: 'agents.vpc.internal:6001', internet: 'lb-1.example.com:7001' });
    expect((await beat('agent-2')).json().advertised).toEqual({ vpc: 'agents.vpc.internal:6002', internet: 'lb-1.example.com:7002' });
    // The same agent heartbeating again keeps its addresses.
    expect((await beat('agent-1')).json().advertised).toEqual({ vpc: 'agents.vpc.internal:6001', internet: 'lb-1.example.com:7001' });
  });

  it('lists a group\'s advertised nodes, and refuses groups that advertise none', async () => {
    expect((await t.app.inject('/v1/advertised?group=internet')).json()).toEqual({ 'agent-1': 'lb-1.example.com:7001', 'agent-2': 'lb-1.example.com:7002' });
    const internal = await t.app.inject('/v1/advertised?group=internal');
    expect(internal.statusCode).toBe(404);
    expect(internal.json().message).toContain('has no nodeListeners');
    expect((await t.app.inject('/v1/advertised?group=nope')).statusCode).toBe(404);
    const missing = await t.app.inject('/v1/advertised');
    expect(missing.statusCode).toBe(400);
    expect(missing.json().message).toContain('querystring.group: is required');
  });
});
