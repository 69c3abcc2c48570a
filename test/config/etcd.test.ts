import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';

const groups = [{ name: 'g', shards: [{ name: 's', listen: '0.0.0.0:10000', clusters: ['s-masters'] }] }];
const withRegistry = (registry: Record<string, unknown>) => () => parseConfig({ registry, groups });

describe('registry.store: etcd (contract 14)', () => {
  it('defaults to the memory store, and reads etcd settings with the default prefix', () => {
    expect([parseConfig({ groups }).registry.store, parseConfig({ groups }).registry.etcd]).toEqual(['memory', undefined]);
    const config = withRegistry({ store: 'etcd', etcd: { endpoints: ['127.0.0.1:2379', 'etcd-1:2379'] } })();
    expect(config.registry.etcd).toEqual({ endpoints: ['127.0.0.1:2379', 'etcd-1:2379'], prefix: '/shardvoy/', tls: undefined, auth: undefined });
  });

  it('reads the password from the environment, never from the file as written', () => {
    process.env.SHARDVOY_TEST_ETCD_PASSWORD = 's3cret\n';
    const config = withRegistry({ store: 'etcd', etcd: { endpoints: ['a:1'], auth: { username: 'shardvoy', password: { env: 'SHARDVOY_TEST_ETCD_PASSWORD' } } } })();
    delete process.env.SHARDVOY_TEST_ETCD_PASSWORD;
    expect(config.registry.etcd?.auth).toEqual({ username: 'shardvoy', password: 's3cret' });
  });

  it.each([
    [{ store: 'etcd' }, 'config: registry.etcd: is required with registry.store: etcd (at least etcd.endpoints)'],
    [{ store: 'consul' }, 'config: registry.store: must be one of'],
    [{ etcd: { endpoints: ['a:1'] } }, 'config: registry.etcd: is set but registry.store is "memory"'],
    [{ store: 'etcd', etcd: { endpoints: [] } }, 'config: registry.etcd.endpoints: must list at least one host:port'],
    [{ store: 'etcd', etcd: { endpoints: ['a:1', 'b'] } }, 'config: registry.etcd.endpoints[1]: "b" is not host:port'],
    [{ store: 'etcd', etcd: { endpoints: ['a:1'], prefix: 'shardvoy' } }, 'config: registry.etcd.prefix: must start and end with "/"'],
    [{ store: 'etcd', etcd: { endpoints: ['a:1'], tls: { cert: '/c.pem' } } }, 'config: registry.etcd.tls.key: cert and key go together'],
    [{ store: 'etcd', etcd: { endpoints: ['a:1'], tls: { ca: '/no/such/ca.pem' } } }, 'config: registry.etcd.tls.ca: cannot read /no/such/ca.pem: ENOENT'],
    [{ store: 'etcd', etcd: { endpoints: ['a:1'] }, stateFile: '/var/lib/shardvoy/state.json' }, 'config: registry.stateFile: cannot be used with registry.store: etcd'],
    [{ store: 'etcd', etcd: { endpoints: ['a:1'] }, remote: ['b:2'] }, 'config: registry.remote: cannot be used with registry.store: etcd'],
    [{ store: 'etcd', etcd: { endpoints: ['a:1'], auth: { username: 'u', password: { env: 'SHARDVOY_TEST_UNSET' } } } }, 'config: registry.etcd.auth.password.env: environment variable SHARDVOY_TEST_UNSET is not set'],
  ])('refuses %j, naming the key', (registry, message) => {
    expect(withRegistry(registry)).toThrow(message);
  });
});
