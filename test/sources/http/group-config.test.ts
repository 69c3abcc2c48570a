/**
 * Contract 7.3: GET /v1/groups/:group/client-config (DKV's dkvShards format) and
 * GET /v1/groups/:group/envoy-bootstrap (an Envoy bootstrap in YAML). No Envoy runs here, so
 * every bootstrap is checked as test/deploy/bootstrap-files.test.ts checks envoy/*.yaml: against
 * the Envoy API protos (no unknown or deprecated field) and their validate rules.
 */
import { readFileSync } from 'node:fs';
import type protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { defaultConfig, loadConfigFile } from '../../../src/config/load.js';
import { validateMessage } from '../../../src/envoy-api/pgv.js';
import { envoyIncludeDirs, rootWithIncludes } from '../../../src/envoy-api/protos.js';
import { dkvClientConfig } from '../../../src/sources/http/client-config.js';
import { envoyBootstrap, envoyBootstrapYaml } from '../../../src/sources/http/envoy-bootstrap.js';
import { hostOfHostHeader } from '../../../src/sources/http/routes/group-config.js';
import { buildTestApp, type TestApp } from '../../support/app.js';
import { makeTestPki, type TestPki } from '../../support/certs.js';
import { fromProtoJson } from '../../support/proto-json.js';
import { messageView } from '../../support/message-view.js';

type Json = Record<string, any>;

const SEED_FILE = 'test/config/fixtures/dkvoy-seed.json';
const HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const UPSTREAM_TLS_CONTEXT = 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

// The shared Envoy root has no TLS transport socket types; this one adds them, so a bootstrap
// with a transport socket is checked as deeply as one without.
const root = rootWithIncludes(envoyIncludeDirs());
root.loadSync(
  [
    'envoy/config/bootstrap/v3/bootstrap.proto',
    'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
    'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  ],
  { keepCase: true },
);
root.resolveAll();
const BOOTSTRAP = root.lookupType('envoy.config.bootstrap.v3.Bootstrap');

/** proto3-JSON -> Bootstrap message: throws on anything Envoy would refuse to parse. */
function bootstrapMessage(json: unknown): protobuf.Message {
  return fromProtoJson(BOOTSTRAP, json, { rejectDeprecated: true });
}

const view = (type: protobuf.Type, message: protobuf.Message): Json => messageView(type, message, root);

/** Parses, converts and validates a served bootstrap; returns its view. Fails the test on any problem. */
function checkedBootstrap(yamlText: string): Json {
  const json = parse(yamlText) as unknown;
  const message = bootstrapMessage(json);
  expect(validateMessage(BOOTSTRAP, message)).toEqual([]);
  return view(BOOTSTRAP, message);
}

function xdsCluster(bootstrap: Json): Json {
  const clusters = bootstrap.static_resources.clusters as Json[];
  expect(clusters.map((c) => c.name)).toEqual(['xds_cluster']);
  return clusters[0]!;
}

function xdsEndpoint(bootstrap: Json): { address: string; port: number } {
  const cluster = xdsCluster(bootstrap);
  expect(cluster.load_assignment.endpoints).toHaveLength(1);
  expect(cluster.load_assignment.endpoints[0].lb_endpoints).toHaveLength(1);
  const socket = cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
  return { address: socket.address, port: socket.port_value };
}

const NATIVE = {
  grpc: { listen: '0.0.0.0:18000' },
  groups: [
    {
      name: 'sidecars',
      dc: 'dc1',
      shards: [
        { name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters', 'shard0-replicas'] },
        { name: 'shard1', listen: '0.0.0.0:11000', clusters: ['shard1-slaves', 'shard1-masters'], protocol: 'http2' },
        { name: 'shard2', listen: '0.0.0.0:12000', clusters: ['shard2-replicas'], protocol: 'tcp' },
      ],
    },
    {
      name: 'external',
      advertisedHost: 'dkv.example.com',
      shards: [{ name: 'shard0', listen: '0.0.0.0:20000', clusters: ['shard0-replicas', 'shard0-masters'] }],
    },
    // Both aliases of the replica role: DKV has one SLAVE topology per shard.
    { name: 'legacy', shards: [{ name: 'shard3', listen: '0.0.0.0:13000', clusters: ['shard3-slaves', 'shard3-masters', 'shard3-replicas'] }] },
    { name: 'grpc-clients', proxyless: true, shards: [{ name: 'shard0', clusters: ['shard0-masters', 'shard0-replicas'] }] },
  ],
};

const clientConfig = (t: TestApp, group: string) => t.app.inject({ method: 'GET', url: `/v1/groups/${group}/client-config` });
const bootstrap = (t: TestApp, group: string, query = '', headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'GET', url: `/v1/groups/${group}/envoy-bootstrap${query}`, headers });

describe("the seed's dkvoy config", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(JSON.parse(readFileSync(SEED_FILE, 'utf8')) as Record<string, unknown>);
  });
  afterAll(() => t.app.close());

  it('is the config loadConfigFile reads from the seed file', () => {
    expect(t.config).toEqual(loadConfigFile(SEED_FILE));
    expect(t.config.groups[0]?.shards[0]?.protocol).toBe('http2');
  });

  it('gives the DKV client its one shard at the sidecar, masters only', async () => {
    const res = await clientConfig(t, 'local-group');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json()).toEqual({
      dkvShards: [{ name: 'shard0', topology: { MASTER: { name: 'shard0-masters', nodes: [{ host: '127.0.0.1', port: 10000 }] } } }],
    });
  });

  it('gives Envoy a bootstrap for local-group that passes the Envoy API checks', async () => {
    const res = await bootstrap(t, 'local-group', '?xds=ds1:7979');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/yaml/);
    const b = checkedBootstrap(res.body);
    expect(b.node).toEqual({ id: 'local-group', cluster: 'local-group' });
    expect(xdsEndpoint(b)).toEqual({ address: 'ds1', port: 7979 });
  });
});

describe('a native config', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(NATIVE);
  });
  afterAll(() => t.app.close());

  describe('GET /v1/groups/:group/client-config', () => {
    it('puts tcp clusters on listen port + index and http2 clusters on the listen port, at the sidecar', async () => {
      const res = await clientConfig(t, 'sidecars');
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({
        dkvShards: [
          {
            name: 'shard0',
            topology: {
              MASTER: { name: 'shard0-masters', nodes: [{ host: '127.0.0.1', port: 10000 }] },
              SLAVE: { name: 'shard0-replicas', nodes: [{ host: '127.0.0.1', port: 10001 }] },
            },
          },
          {
            name: 'shard1',
            topology: {
              MASTER: { name: 'shard1-masters', nodes: [{ host: '127.0.0.1', port: 11000 }] },
              SLAVE: { name: 'shard1-slaves', nodes: [{ host: '127.0.0.1', port: 11000 }] },
            },
          },
          { name: 'shard2', topology: { SLAVE: { name: 'shard2-replicas', nodes: [{ host: '127.0.0.1', port: 12000 }] } } },
        ],
      });
    });

    it("uses the group's advertisedHost, and the cluster's own index for its port", async () => {
      const res = await clientConfig(t, 'external');
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({
        dkvShards: [
          {
            name: 'shard0',
            topology: {
              MASTER: { name: 'shard0-masters', nodes: [{ host: 'dkv.example.com', port: 20001 }] },
              SLAVE: { name: 'shard0-replicas', nodes: [{ host: 'dkv.example.com', port: 20000 }] },
            },
          },
        ],
      });
    });

    it('takes SLAVE from the first replica cluster when a shard lists both -slaves and -replicas', async () => {
      const res = await clientConfig(t, 'legacy');
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({
        dkvShards: [
          {
            name: 'shard3',
            topology: {
              MASTER: { name: 'shard3-masters', nodes: [{ host: '127.0.0.1', port: 13001 }] },
              SLAVE: { name: 'shard3-slaves', nodes: [{ host: '127.0.0.1', port: 13000 }] },
            },
          },
        ],
      });
    });

    it('answers 404 naming params.group for an unknown group', async () => {
      const res = await clientConfig(t, 'nope');
      expect(res.statusCode).toBe(404);
      expect(res.json()).toMatchObject({ statusCode: 404, error: 'Not Found' });
      expect(res.json().message).toMatch(/^params\.group: no group named "nope"/);
    });

    it('answers 409 for a proxyless group: no listeners, its clients dial xds:///<cluster>', async () => {
      const res = await clientConfig(t, 'grpc-clients');
      expect(res.statusCode).toBe(409);
      expect(res.json()).toMatchObject({ statusCode: 409, error: 'Conflict' });
      expect(res.json().message).toMatch(/^params\.group: group "grpc-clients" is proxyless/);
      expect(res.json().message).toContain('no Envoy listeners');
      expect(res.json().message).toContain('xds:///<cluster name>');
    });
  });

  describe('GET /v1/groups/:group/envoy-bootstrap', () => {
    it.each(['sidecars', 'external'])('serves group %s a valid bootstrap in the shape of envoy/envoy.yaml', async (group) => {
      const res = await bootstrap(t, group, '?xds=xds.example.com:7443');
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/yaml/);
      const b = checkedBootstrap(res.body);
      expect(b.node).toEqual({ id: group, cluster: group });
      expect(b.dynamic_resources).toEqual({
        ads_config: {
          api_type: 'GRPC',
          transport_api_version: 'V3',
          grpc_services: [{ envoy_grpc: { cluster_name: 'xds_cluster' } }],
          set_node_on_first_message_only: true,
        },
        cds_config: { ads: {}, resource_api_version: 'V3' },
        lds_config: { ads: {}, resource_api_version: 'V3' },
      });
      const cluster = xdsCluster(b);
      expect(cluster.type).toBe('STRICT_DNS');
      expect(cluster.connect_timeout).toEqual({ seconds: 1, nanos: 0 });
      expect(cluster.typed_extension_protocol_options).toEqual({
        [HTTP_PROTOCOL_OPTIONS]: { '@type': `type.googleapis.com/${HTTP_PROTOCOL_OPTIONS}`, explicit_http_config: { http2_protocol_options: {} } },
      });
      expect(cluster.load_assignment.cluster_name).toBe('xds_cluster');
      expect(cluster.transport_socket).toBeUndefined();
      expect(xdsEndpoint(b)).toEqual({ address: 'xds.example.com', port: 7443 });
      expect(b.admin).toEqual({ address: { socket_address: { address: '127.0.0.1', port_value: 9901 } } });
      // No TLS: the comment asks for no files.
      expect(res.body).not.toContain('/etc/envoy/tls');
    });

    it('takes an IPv4 or bracketed IPv6 xds address', async () => {
      expect(xdsEndpoint(checkedBootstrap((await bootstrap(t, 'sidecars', '?xds=10.1.2.3:7979')).body))).toEqual({ address: '10.1.2.3', port: 7979 });
      const v6 = await bootstrap(t, 'sidecars', `?xds=${encodeURIComponent('[fd00::1]:7979')}`);
      expect(v6.statusCode).toBe(200);
      expect(xdsEndpoint(checkedBootstrap(v6.body))).toEqual({ address: 'fd00::1', port: 7979 });
    });

    it("defaults xds to the Host header's host name and the configured gRPC port", async () => {
      const named = await bootstrap(t, 'sidecars', '', { host: 'cp.internal:8082' });
      expect(named.statusCode).toBe(200);
      expect(xdsEndpoint(checkedBootstrap(named.body))).toEqual({ address: 'cp.internal', port: 18000 });
      const noPort = await bootstrap(t, 'sidecars', '', { host: '10.9.8.7' });
      expect(xdsEndpoint(checkedBootstrap(noPort.body))).toEqual({ address: '10.9.8.7', port: 18000 });
      const v6 = await bootstrap(t, 'sidecars', '', { host: '[::1]:8082' });
      expect(xdsEndpoint(checkedBootstrap(v6.body))).toEqual({ address: '::1', port: 18000 });
    });

    it('falls back to 127.0.0.1 when the Host header names no host', async () => {
      const res = await bootstrap(t, 'sidecars', '', { host: 'not a host!' });
      expect(res.statusCode).toBe(200);
      expect(xdsEndpoint(checkedBootstrap(res.body))).toEqual({ address: '127.0.0.1', port: 18000 });
    });

    it.each([
      ['missing port', 'xds.example.com'],
      ['port 0', 'xds.example.com:0'],
      ['port 70000', 'xds.example.com:70000'],
      ['garbage', 'not an address!'],
      ['empty', ''],
      ['unbracketed IPv6', '::1:7979'],
    ])('answers 400 naming querystring.xds for a bad xds (%s)', async (_what, xds) => {
      const res = await bootstrap(t, 'sidecars', `?xds=${encodeURIComponent(xds)}`);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ statusCode: 400, error: 'Bad Request' });
      expect(res.json().message).toMatch(/^querystring\.xds: /);
    });

    it('answers 400 for an unknown query parameter (a misspelt xds is not silently ignored)', async () => {
      const res = await bootstrap(t, 'sidecars', '?xsd=xds.example.com:7979');
      expect(res.statusCode).toBe(400);
      expect(res.json().message).toContain('querystring.xsd: unknown field');
    });

    it('answers 404 naming params.group for an unknown group', async () => {
      const res = await bootstrap(t, 'nope', '?xds=xds.example.com:7979');
      expect(res.statusCode).toBe(404);
      expect(res.json().message).toMatch(/^params\.group: no group named "nope"/);
    });

    it('answers 409 for a proxyless group: it needs a gRPC xDS bootstrap, not an Envoy one', async () => {
      const res = await bootstrap(t, 'grpc-clients', '?xds=xds.example.com:7979');
      expect(res.statusCode).toBe(409);
      expect(res.json()).toMatchObject({ statusCode: 409, error: 'Conflict' });
      expect(res.json().message).toMatch(/^params\.group: group "grpc-clients" is proxyless/);
      expect(res.json().message).toContain('gRPC xDS bootstrap');
      expect(res.json().message).toContain('not an Envoy bootstrap');
    });
  });
});

describe('a gRPC port picked at start (port 0)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ ...NATIVE, grpc: { listen: '127.0.0.1:0' } });
  });
  afterAll(() => t.app.close());

  it('makes xds required, since the configuration does not know the port', async () => {
    const res = await bootstrap(t, 'sidecars', '', { host: 'cp.internal:8082' });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toMatch(/^querystring\.xds: is required/);
    expect((await bootstrap(t, 'sidecars', '?xds=cp.internal:41000')).statusCode).toBe(200);
  });
});

describe('with grpc.tls', () => {
  let pki: TestPki;
  const apps: TestApp[] = [];
  const withTls = async (requireClientCert: boolean) => {
    const t = await buildTestApp({
      ...NATIVE,
      grpc: { listen: '0.0.0.0:7979', tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.caCert, requireClientCert } },
    });
    apps.push(t);
    return t;
  };
  beforeAll(() => {
    pki = makeTestPki();
  });
  afterAll(async () => {
    for (const t of apps) await t.app.close();
  });

  it('with requireClientCert: xds_cluster verifies the server against the CA file and presents a client certificate', async () => {
    const t = await withTls(true);
    expect(t.config.grpc.tls?.requireClientCert).toBe(true);
    const res = await bootstrap(t, 'sidecars', '?xds=xds.example.com:7979');
    expect(res.statusCode).toBe(200);
    const b = checkedBootstrap(res.body);
    expect(xdsCluster(b).transport_socket).toEqual({
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': `type.googleapis.com/${UPSTREAM_TLS_CONTEXT}`,
        common_tls_context: {
          validation_context: { trusted_ca: { filename: '/etc/envoy/tls/ca.crt' } },
          tls_certificates: [{ certificate_chain: { filename: '/etc/envoy/tls/client.crt' }, private_key: { filename: '/etc/envoy/tls/client.key' } }],
        },
        sni: 'xds.example.com',
      },
    });
    // The comment at the top names every file the sidecar must hold.
    const header = res.body.slice(0, res.body.indexOf('\nnode:'));
    expect(header.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#'))).toEqual([]);
    for (const file of ['/etc/envoy/tls/ca.crt', '/etc/envoy/tls/client.crt', '/etc/envoy/tls/client.key']) expect(header).toContain(file);
  });

  it('without requireClientCert: only the CA, no client certificate', async () => {
    const t = await withTls(false);
    const res = await bootstrap(t, 'external', '?xds=xds.example.com:7979');
    const socket = xdsCluster(checkedBootstrap(res.body)).transport_socket;
    expect(socket.typed_config.common_tls_context).toEqual({ validation_context: { trusted_ca: { filename: '/etc/envoy/tls/ca.crt' } } });
    expect(socket.typed_config.sni).toBe('xds.example.com');
    expect(res.body.slice(0, res.body.indexOf('\nnode:'))).toContain('/etc/envoy/tls/ca.crt');
    expect(res.body).not.toContain('client.crt');
  });

  it('sends no SNI for an IP address (SNI carries host names only)', async () => {
    const t = await withTls(true);
    const res = await bootstrap(t, 'sidecars', '?xds=10.0.0.7:7979');
    const socket = xdsCluster(checkedBootstrap(res.body)).transport_socket;
    expect(socket.typed_config.sni).toBeUndefined();
    expect(parse(res.body).static_resources.clusters[0].transport_socket.typed_config).not.toHaveProperty('sni');
  });

  it('the transport socket check bites: a misspelt or invalid TLS field is refused', () => {
    const json = parse(envoyBootstrapYaml(defaultConfig().groups[0]!, { host: 'xds.example.com', port: 7979 }, { requireClientCert: true })) as Json;
    const typed = json.static_resources.clusters[0].transport_socket.typed_config;
    expect(() => bootstrapMessage(json)).not.toThrow();
    typed.common_tls_context.validation_context.trusted_ca.file_name = 'x';
    expect(() => bootstrapMessage(json)).toThrow(/trusted_ca\.file_name: unknown field/);
    delete typed.common_tls_context.validation_context.trusted_ca.file_name;
    typed.sni = 'x'.repeat(256);
    expect(validateMessage(BOOTSTRAP, bootstrapMessage(json)).map((v) => v.path)).toEqual([
      expect.stringMatching(/transport_socket\.typed_config.*sni$/),
    ]);
  });
});

describe('authentication', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ ...NATIVE, auth: { readToken: 'read-secret' } });
  });
  afterAll(() => t.app.close());

  it('guards both endpoints with the read token', async () => {
    for (const url of ['/v1/groups/sidecars/client-config', '/v1/groups/sidecars/envoy-bootstrap?xds=cp:7979']) {
      expect((await t.app.inject({ url })).statusCode, url).toBe(401);
      expect((await t.app.inject({ url, headers: { authorization: 'Bearer wrong' } })).statusCode, url).toBe(401);
      expect((await t.app.inject({ url, headers: { authorization: 'Bearer read-secret' } })).statusCode, url).toBe(200);
    }
  });
});

describe('the pure builders', () => {
  const group = defaultConfig().groups[0]!;

  it('envoyBootstrap for the default group and the compose service is envoy/envoy.yaml, admin aside', () => {
    const file = parse(readFileSync('envoy/envoy.yaml', 'utf8')) as Json;
    const built = envoyBootstrap(group, { host: 'shardvoy', port: 7979 }, undefined);
    // envoy.yaml opens the admin port to the compose network; a generated sidecar keeps it on loopback.
    expect({ ...built, admin: null }).toEqual({ ...file, admin: null });
  });

  it('refuse a proxyless group', () => {
    const proxyless = { ...group, proxyless: true };
    expect(() => dkvClientConfig(proxyless)).toThrow(/proxyless/);
    expect(() => envoyBootstrap(proxyless, { host: 'cp', port: 7979 }, undefined)).toThrow(/gRPC xDS bootstrap/);
  });

  it('hostOfHostHeader takes the host name of a Host header, or nothing', () => {
    expect(hostOfHostHeader('cp.internal:8082')).toBe('cp.internal');
    expect(hostOfHostHeader('cp.internal')).toBe('cp.internal');
    expect(hostOfHostHeader('10.0.0.1:80')).toBe('10.0.0.1');
    expect(hostOfHostHeader('[fd00::2]:8082')).toBe('fd00::2');
    expect(hostOfHostHeader('[fd00::2]')).toBe('fd00::2');
    for (const bad of [undefined, '', 'a b', '[fd00::2', '[nope]:80', 'host:port', '::1']) expect(hostOfHostHeader(bad), String(bad)).toBeUndefined();
  });
});
