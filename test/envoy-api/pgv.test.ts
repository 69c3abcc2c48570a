import { readdirSync } from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';
import { describe, it, expect } from 'vitest';
import { envoyIncludeDirs, envoyType, rootWithIncludes } from '../../src/envoy-api/protos.js';
import { compileRe2, isEmail, isHostname, isUri, validateEncoded, validateMessage } from '../../src/envoy-api/pgv.js';

type Obj = Record<string, unknown>;

const TCP_PROXY = 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'envoy.extensions.filters.http.router.v3.Router';

/** An Any holding `object` encoded as `typeName` from the Envoy root. */
function pack(typeName: string, object: Obj): Obj {
  const type = envoyType(typeName);
  return { type_url: `type.googleapis.com/${typeName}`, value: type.encode(type.fromObject(object)).finish() };
}

function check(typeName: string, object: Obj) {
  const type = envoyType(typeName);
  return validateMessage(type, type.fromObject(object));
}

const rulesOf = (violations: { rule: string }[]) => violations.map((v) => v.rule);

const ads = { ads: {}, resource_api_version: 'V3' };

const edsCluster = (over: Obj = {}): Obj => ({
  name: 'shard-0-master',
  type: 'EDS',
  eds_cluster_config: { eds_config: ads },
  connect_timeout: { seconds: 5 },
  ...over,
});

const socket = (port: number): Obj => ({ socket_address: { address: '10.0.0.1', port_value: port } });

const lbEndpoint = (over: Obj = {}): Obj => ({ endpoint: { address: socket(6379) }, ...over });

const tcpListener = (tcpProxy: Obj): Obj => ({
  name: 'shard-0',
  address: { socket_address: { address: '0.0.0.0', port_value: 7000 } },
  filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: pack(TCP_PROXY, tcpProxy) }] }],
});

const httpListener = (hcm: Obj): Obj => ({
  name: 'http',
  address: { socket_address: { address: '0.0.0.0', port_value: 8080 } },
  filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: pack(HCM, hcm) }] }],
});

const validHcm = (over: Obj = {}): Obj => ({
  stat_prefix: 'ingress_http',
  rds: { route_config_name: 'local_route', config_source: ads },
  http_filters: [{ name: 'envoy.filters.http.router', typed_config: pack(ROUTER, {}) }],
  ...over,
});

describe('validateMessage on Envoy clusters', () => {
  it('accepts a valid EDS cluster fed by ADS', () => {
    expect(check('envoy.config.cluster.v3.Cluster', edsCluster())).toEqual([]);
  });

  it('rejects a zero connect_timeout (duration.gt)', () => {
    expect(check('envoy.config.cluster.v3.Cluster', edsCluster({ connect_timeout: { seconds: 0 } }))).toEqual([
      { path: 'connect_timeout', rule: 'duration.gt', message: 'must be greater than 0s' },
    ]);
  });

  it('rejects an empty name even though "" is the proto3 default (string.min_len)', () => {
    expect(check('envoy.config.cluster.v3.Cluster', edsCluster({ name: '' }))).toEqual([
      { path: 'name', rule: 'string.min_len', message: 'must be at least 1 character(s)' },
    ]);
    const { name: _omitted, ...withoutName } = edsCluster();
    expect(rulesOf(check('envoy.config.cluster.v3.Cluster', withoutName))).toEqual(['string.min_len']);
  });

  it('rejects an undefined discovery type number (enum.defined_only)', () => {
    const violations = check('envoy.config.cluster.v3.Cluster', edsCluster({ type: 42 }));
    expect(violations).toEqual([{ path: 'type', rule: 'enum.defined_only', message: expect.stringContaining('42') }]);
  });

  it('returns every violation, not just the first', () => {
    const violations = check('envoy.config.cluster.v3.Cluster', edsCluster({ name: '', connect_timeout: {}, lb_policy: 99 }));
    expect(violations.map((v) => [v.path, v.rule])).toEqual([
      ['name', 'string.min_len'],
      ['connect_timeout', 'duration.gt'],
      ['lb_policy', 'enum.defined_only'],
    ]);
  });

  it('finds a bad port deep inside a STATIC cluster load assignment', () => {
    const cluster = {
      name: 'xds',
      type: 'STATIC',
      connect_timeout: { seconds: 1 },
      load_assignment: { cluster_name: 'xds', endpoints: [{ lb_endpoints: [lbEndpoint(), lbEndpoint({ endpoint: { address: socket(70000) } })] }] },
    };
    expect(check('envoy.config.cluster.v3.Cluster', cluster)).toEqual([
      {
        path: 'load_assignment.endpoints[0].lb_endpoints[1].endpoint.address.socket_address.port_value',
        rule: 'uint32.lte',
        message: 'must be less than or equal to 65535',
      },
    ]);
  });

  it('validates Any values in maps (typed_extension_protocol_options)', () => {
    const http2 = pack('envoy.extensions.upstreams.http.v3.HttpProtocolOptions', {
      explicit_http_config: { http2_protocol_options: { max_concurrent_streams: { value: 0 } } },
    });
    const key = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
    const violations = check('envoy.config.cluster.v3.Cluster', edsCluster({ typed_extension_protocol_options: { [key]: http2 } }));
    expect(violations).toEqual([
      {
        path: `typed_extension_protocol_options["${key}"](http.v3.HttpProtocolOptions).explicit_http_config.http2_protocol_options.max_concurrent_streams`,
        rule: 'uint32.gte',
        message: 'must be inside range [1, 2147483647]',
      },
    ]);
  });

  it('checks map keys (Metadata.filter_metadata keys need min_len 1)', () => {
    const violations = check('envoy.config.cluster.v3.Cluster', edsCluster({ metadata: { filter_metadata: { shardvoy: {}, '': {} } } }));
    expect(violations).toEqual([{ path: 'metadata.filter_metadata[""]', rule: 'map.keys.string.min_len', message: 'must be at least 1 character(s)' }]);
  });
});

describe('validateMessage on Envoy addresses and endpoints', () => {
  const SocketAddress = 'envoy.config.core.v3.SocketAddress';

  it('applies uint32.lte to SocketAddress.port_value', () => {
    expect(check(SocketAddress, { address: '10.0.0.1', port_value: 65535 })).toEqual([]);
    expect(check(SocketAddress, { address: '10.0.0.1', port_value: 70000 })).toEqual([
      { path: 'port_value', rule: 'uint32.lte', message: 'must be less than or equal to 65535' },
    ]);
  });

  it('requires one of the port_specifier oneof, and ignores rules of the unset member', () => {
    expect(check(SocketAddress, { address: '10.0.0.1', named_port: 'redis' })).toEqual([]);
    expect(check(SocketAddress, { address: '10.0.0.1' })).toEqual([
      { path: 'port_specifier', rule: 'oneof.required', message: 'exactly one of [port_value, named_port] is required' },
    ]);
    // A oneof member set to its zero value is set, so its rules apply and the oneof is satisfied.
    expect(check(SocketAddress, { address: '10.0.0.1', port_value: 0 })).toEqual([]);
  });

  const CLA = 'envoy.config.endpoint.v3.ClusterLoadAssignment';
  const cla = (endpoints: Obj[]): Obj => ({ cluster_name: 'shard-0-master', endpoints });

  it('accepts a valid ClusterLoadAssignment', () => {
    const ok = cla([{ priority: 0, lb_endpoints: [lbEndpoint({ load_balancing_weight: { value: 1 } })] }, { priority: 1, lb_endpoints: [lbEndpoint()] }]);
    expect(check(CLA, ok)).toEqual([]);
  });

  it('rejects a zero lb endpoint weight, but only when the wrapper is set', () => {
    expect(check(CLA, cla([{ lb_endpoints: [lbEndpoint({ load_balancing_weight: { value: 0 } })] }]))).toEqual([
      { path: 'endpoints[0].lb_endpoints[0].load_balancing_weight', rule: 'uint32.gte', message: 'must be greater than or equal to 1' },
    ]);
    // A set wrapper with no value holds 0, which also breaks the rule.
    expect(rulesOf(check(CLA, cla([{ lb_endpoints: [lbEndpoint({ load_balancing_weight: {} })] }])))).toEqual(['uint32.gte']);
  });

  it('rejects locality priority above 128 and a zero locality weight', () => {
    const violations = check(CLA, cla([{ priority: 129, load_balancing_weight: { value: 0 }, lb_endpoints: [lbEndpoint()] }]));
    expect(violations.map((v) => [v.path, v.rule])).toEqual([
      ['endpoints[0].load_balancing_weight', 'uint32.gte'],
      ['endpoints[0].priority', 'uint32.lte'],
    ]);
  });

  it('rejects an empty cluster_name and a bad overprovisioning factor', () => {
    const violations = check(CLA, { cluster_name: '', policy: { overprovisioning_factor: { value: 0 } } });
    expect(violations.map((v) => [v.path, v.rule])).toEqual([
      ['cluster_name', 'string.min_len'],
      ['policy.overprovisioning_factor', 'uint32.gt'],
    ]);
  });
});

describe('validateMessage through Any-packed filters', () => {
  const LISTENER = 'envoy.config.listener.v3.Listener';
  const tcpPath = 'filter_chains[0].filters[0].typed_config(tcp_proxy.v3.TcpProxy)';

  it('accepts a listener whose tcp_proxy names a cluster', () => {
    expect(check(LISTENER, tcpListener({ stat_prefix: 'shard-0', cluster: 'shard-0-master' }))).toEqual([]);
  });

  it('reports a missing cluster_specifier inside typed_config', () => {
    expect(check(LISTENER, tcpListener({ stat_prefix: 'shard-0' }))).toEqual([
      { path: `${tcpPath}.cluster_specifier`, rule: 'oneof.required', message: 'exactly one of [cluster, weighted_clusters] is required' },
    ]);
  });

  it('reports an empty tcp_proxy stat_prefix', () => {
    expect(check(LISTENER, tcpListener({ stat_prefix: '', cluster: 'c' }))).toEqual([
      { path: `${tcpPath}.stat_prefix`, rule: 'string.min_len', message: 'must be at least 1 character(s)' },
    ]);
  });

  it('applies repeated.min_items and per-item rules inside the payload', () => {
    const weighted = (clusters: Obj[]) => tcpListener({ stat_prefix: 's', weighted_clusters: { clusters } });
    expect(check(LISTENER, weighted([]))).toEqual([
      { path: `${tcpPath}.weighted_clusters.clusters`, rule: 'repeated.min_items', message: 'must contain at least 1 item(s)' },
    ]);
    expect(check(LISTENER, weighted([{ name: 'a', weight: 1 }, { name: '', weight: 0 }])).map((v) => [v.path, v.rule])).toEqual([
      [`${tcpPath}.weighted_clusters.clusters[1].name`, 'string.min_len'],
      [`${tcpPath}.weighted_clusters.clusters[1].weight`, 'uint32.gte'],
    ]);
  });

  it('rejects an Any whose type_url is not in the root', () => {
    const listener = tcpListener({ stat_prefix: 's', cluster: 'c' });
    (listener.filter_chains as Obj[])[0]!.filters = [{ name: 'x', typed_config: { type_url: 'type.googleapis.com/envoy.nope.v3.Nope', value: new Uint8Array() } }];
    expect(check(LISTENER, listener)).toEqual([
      { path: 'filter_chains[0].filters[0].typed_config', rule: 'any.type_url', message: 'unknown type "type.googleapis.com/envoy.nope.v3.Nope"' },
    ]);
  });

  it('rejects an Any whose bytes do not decode as its type', () => {
    const listener = tcpListener({ stat_prefix: 's', cluster: 'c' });
    const filter = (listener.filter_chains as Obj[])[0]!.filters as Obj[];
    filter[0]!.typed_config = { type_url: `type.googleapis.com/${TCP_PROXY}`, value: Uint8Array.from([0x0a, 0x10, 0x41]) };
    expect(rulesOf(check(LISTENER, listener))).toEqual(['any.decode']);
  });

  it('recurses through an Any inside an Any (HCM -> router)', () => {
    expect(check(LISTENER, httpListener(validHcm()))).toEqual([]);
    const hcm = validHcm({ http_filters: [{ name: 'envoy.filters.http.router', typed_config: { type_url: 'type.googleapis.com/bogus.Router' } }] });
    expect(check(LISTENER, httpListener(hcm))).toEqual([
      {
        path: 'filter_chains[0].filters[0].typed_config(http_connection_manager.v3.HttpConnectionManager).http_filters[0].typed_config',
        rule: 'any.type_url',
        message: 'unknown type "type.googleapis.com/bogus.Router"',
      },
    ]);
  });

  it('reports message.required inside the HCM payload', () => {
    const violations = check(LISTENER, httpListener(validHcm({ rds: { route_config_name: 'local_route' } })));
    expect(violations).toEqual([
      {
        path: 'filter_chains[0].filters[0].typed_config(http_connection_manager.v3.HttpConnectionManager).rds.config_source',
        rule: 'message.required',
        message: 'is required',
      },
    ]);
  });
});

describe('validateMessage on routes', () => {
  const RC = 'envoy.config.route.v3.RouteConfiguration';
  const vhost = (over: Obj): Obj => ({ name: 'vh', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c' } }], ...over });

  it('accepts a simple route configuration', () => {
    expect(check(RC, { name: 'local_route', virtual_hosts: [vhost({})] })).toEqual([]);
  });

  it('needs at least one domain per virtual host (repeated.min_items)', () => {
    expect(check(RC, { name: 'r', virtual_hosts: [vhost({ domains: [] })] })).toEqual([
      { path: 'virtual_hosts[0].domains', rule: 'repeated.min_items', message: 'must contain at least 1 item(s)' },
    ]);
  });

  it('applies the loose HTTP_HEADER_VALUE regex to each domain', () => {
    expect(check(RC, { name: 'r', virtual_hosts: [vhost({ domains: ['ok.example', 'bad\r\nhost'] })] })).toEqual([
      { path: 'virtual_hosts[0].domains[1]', rule: 'string.well_known_regex', message: expect.stringContaining('header value') },
    ]);
  });

  it('checks a HeaderValue key with the loose header-name regex', () => {
    const violations = check(RC, { name: 'r', response_headers_to_add: [{ header: { key: 'x-ok', value: 'v' } }, { header: { key: 'x\nbad', value: 'v' } }] });
    expect(violations.map((v) => [v.path, v.rule])).toEqual([['response_headers_to_add[1].header.key', 'string.well_known_regex']]);
  });
});

describe('validateMessage on a Bootstrap', () => {
  const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';
  const bootstrap = (over: Obj = {}): Obj => ({
    node: { id: 'envoy-0', cluster: 'shardvoy' },
    static_resources: {
      clusters: [
        {
          name: 'xds_cluster',
          type: 'STRICT_DNS',
          connect_timeout: { seconds: 1 },
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': pack('envoy.extensions.upstreams.http.v3.HttpProtocolOptions', {
              explicit_http_config: { http2_protocol_options: {} },
            }),
          },
          load_assignment: { cluster_name: 'xds_cluster', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'shardvoy', port_value: 18000 } } } }] }] },
        },
      ],
      listeners: [tcpListener({ stat_prefix: 'admin', cluster: 'xds_cluster' })],
    },
    dynamic_resources: {
      ads_config: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds_cluster' } }] },
      cds_config: ads,
      lds_config: ads,
    },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 9901 } } },
    ...over,
  });

  it('accepts static resources plus dynamic ADS config', () => {
    expect(check(BOOTSTRAP, bootstrap())).toEqual([]);
  });

  it('catches errors in dynamic and static parts together', () => {
    const bad = bootstrap({
      stats_flush_interval: {},
      dynamic_resources: { ads_config: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: '' } }] }, cds_config: ads },
    });
    expect(check(BOOTSTRAP, bad)).toEqual([
      { path: 'dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name', rule: 'string.min_len', message: 'must be at least 1 character(s)' },
      { path: 'stats_flush_interval', rule: 'duration.gte', message: 'must be inside range [0.001s, 300s)' },
    ]);
  });
});

describe('validateEncoded', () => {
  const Cluster = envoyType('envoy.config.cluster.v3.Cluster');
  const encode = (o: Obj) => Cluster.encode(Cluster.fromObject(o)).finish();

  it('decodes with the Envoy root by full name or type URL', () => {
    expect(validateEncoded('envoy.config.cluster.v3.Cluster', encode(edsCluster()))).toEqual([]);
    expect(validateEncoded('type.googleapis.com/envoy.config.cluster.v3.Cluster', encode(edsCluster({ connect_timeout: { nanos: 0 } })))).toEqual([
      { path: 'connect_timeout', rule: 'duration.gt', message: 'must be greater than 0s' },
    ]);
  });

  it('validates decoded Any payloads (a wire-format Listener)', () => {
    const Listener = envoyType('envoy.config.listener.v3.Listener');
    const bytes = Listener.encode(Listener.fromObject(tcpListener({ stat_prefix: '' }))).finish();
    expect(rulesOf(validateEncoded('envoy.config.listener.v3.Listener', bytes))).toEqual(['oneof.required', 'string.min_len']);
  });

  it('reports undecodable bytes as a violation', () => {
    expect(rulesOf(validateEncoded('envoy.config.cluster.v3.Cluster', Uint8Array.from([0x0a, 0x05, 0x61])))).toEqual(['decode']);
  });

  it('throws for a type name the root does not know', () => {
    expect(() => validateEncoded('envoy.nope.Nope', new Uint8Array())).toThrow();
  });

  it('accepts plain objects as well as messages', () => {
    expect(validateMessage(Cluster, edsCluster({ name: '' }))).toEqual(validateMessage(Cluster, Cluster.fromObject(edsCluster({ name: '' }))));
    expect(rulesOf(validateMessage(Cluster, edsCluster({ name: '' })))).toEqual(['string.min_len']);
  });

  it('still converts what a caller put inside a message, even where no rule applies', () => {
    // The walker skips rule-free sub-trees only in messages the decoder built.
    const message = Cluster.fromObject(edsCluster()) as unknown as Obj;
    message.connect_timeout = 5;
    message.eds_cluster_config = { service_name: '', eds_config: ads };
    expect(validateMessage(Cluster, message as unknown as protobuf.Message<{}>)).toEqual([
      { path: 'connect_timeout', rule: 'type', message: 'is not a google.protobuf.Duration: .google.protobuf.Duration: object expected' },
    ]);
  });

  it('gives the same answers on repeated calls, for the Envoy root and another root', () => {
    const Listener = envoyType('envoy.config.listener.v3.Listener');
    const bytes = Listener.encode(Listener.fromObject(tcpListener({ stat_prefix: '' }))).finish();
    const first = validateEncoded('envoy.config.listener.v3.Listener', bytes);
    expect(first.map((v) => v.path)).toEqual(['filter_chains[0].filters[0].typed_config(tcp_proxy.v3.TcpProxy).cluster_specifier', 'filter_chains[0].filters[0].typed_config(tcp_proxy.v3.TcpProxy).stat_prefix']);
    for (let i = 0; i < 3; i++) expect(validateEncoded('type.googleapis.com/envoy.config.listener.v3.Listener', bytes)).toEqual(first);
    expect(validateEncoded('envoy.config.listener.v3.Listener', bytes, envoyType(TCP_PROXY).root)).toEqual(first);
  });
});

// ---------------------------------------------------------------------------------------------
// The rule engine against protoc-gen-validate's own harness protos.

const pgvDir = envoyIncludeDirs().find((d) => d.endsWith('protoc-gen-validate'))!;
const harnessRoot = rootWithIncludes(envoyIncludeDirs());
const casesDir = path.join(pgvDir, 'tests/harness/cases');
harnessRoot.loadSync(
  readdirSync(casesDir)
    // protobufjs cannot parse lists of messages in options (`in: [{seconds: 1}]`); durations are covered inline below.
    .filter((f) => f.endsWith('.proto') && f !== 'wkt_duration.proto')
    .map((f) => path.join('tests/harness/cases', f)),
  { keepCase: true },
);

// Rules the harness lacks or that protobufjs mangles there (it drops `\x` escapes in bytes literals).
protobuf.parse(
  `syntax = "proto3";
  package shardvoy.pgvtest;
  import "validate/validate.proto";
  import "google/protobuf/duration.proto";
  import "tests/harness/cases/messages.proto";

  message DurRequired { google.protobuf.Duration val = 1 [(validate.rules).duration.required = true]; }
  message DurConst { google.protobuf.Duration val = 1 [(validate.rules).duration.const = {seconds: 3}]; }
  message DurIn { google.protobuf.Duration val = 1 [(validate.rules).duration = {in {seconds: 1} in {nanos: 1000}}]; }
  message DurNotIn { google.protobuf.Duration val = 1 [(validate.rules).duration = {not_in {}}]; }
  message DurGtLt { google.protobuf.Duration val = 1 [(validate.rules).duration = {gt: {}, lt: {seconds: 1}}]; }
  message DurExLtGt { google.protobuf.Duration val = 1 [(validate.rules).duration = {lt: {}, gt: {seconds: 1}}]; }
  message DurLte { google.protobuf.Duration val = 1 [(validate.rules).duration.lte = {seconds: 1, nanos: 500000000}]; }
  message IgnoreEmpty {
    string s = 1 [(validate.rules).string = {min_len: 3, ignore_empty: true}];
    uint32 n = 2 [(validate.rules).uint32 = {gte: 10, ignore_empty: true}];
    repeated string r = 3 [(validate.rules).repeated = {min_items: 2, ignore_empty: true}];
  }
  message Ignored { option (validate.ignored) = true; string s = 1 [(validate.rules).string.min_len = 1]; }
  message HoldsDisabled { tests.harness.cases.MessageDisabled inner = 1 [(validate.rules).message.required = true]; }
  message Optional { optional string s = 1 [(validate.rules).string.min_len = 2]; }
  message BytesAscii {
    bytes prefix = 1 [(validate.rules).bytes.prefix = "ab"];
    bytes suffix = 2 [(validate.rules).bytes.suffix = "yz"];
    bytes pattern = 3 [(validate.rules).bytes.pattern = "^[a-z]*$"];
  }
  message Big { uint64 u = 1 [(validate.rules).uint64.gt = 9007199254740992]; sint64 s = 2 [(validate.rules).sint64.gte = -5]; }
  message Re2 { string s = 1 [(validate.rules).string.pattern = "\\\\A[[:digit:]]+\\\\z"]; }`,
  harnessRoot,
  { keepCase: true },
);
harnessRoot.resolveAll();

function harnessType(name: string): protobuf.Type {
  return harnessRoot.lookupType(name.includes('.') ? name : `tests.harness.cases.${name}`);
}

const nowSeconds = Math.floor(Date.now() / 1000);
const durationAny = (seconds: number): Obj => {
  const D = harnessRoot.lookupType('google.protobuf.Duration');
  return { type_url: 'type.googleapis.com/google.protobuf.Duration', value: D.encode(D.fromObject({ seconds })).finish() };
};
const bytes = (s: string) => Buffer.from(s);

/** [message, object, expected rules in order]. */
const CASES: [string, Obj, string[]][] = [
  // numbers: every kind, const/in/not_in, one-sided and two-sided ranges, reversed ranges
  ['Int32None', { val: 123 }, []],
  ['Int32Const', { val: 1 }, []],
  ['Int32Const', {}, ['int32.const']], // the proto3 default is still checked
  ['Int32In', { val: 3 }, []],
  ['Int32In', { val: 5 }, ['int32.in']],
  ['Int32NotIn', { val: 0 }, ['int32.not_in']],
  ['Int32LT', { val: -1 }, []],
  ['Int32LT', { val: 0 }, ['int32.lt']],
  ['Int32LTE', { val: 64 }, []],
  ['Int32LTE', { val: 65 }, ['int32.lte']],
  ['Int32GT', { val: 17 }, []],
  ['Int32GT', { val: 16 }, ['int32.gt']],
  ['Int32GTE', { val: 8 }, []],
  ['Int32GTE', { val: 7 }, ['int32.gte']],
  ['Int32GTLT', { val: 5 }, []],
  ['Int32GTLT', { val: 0 }, ['int32.gt']],
  ['Int32GTLT', { val: 10 }, ['int32.lt']],
  ['Int32ExLTGT', { val: -1 }, []],
  ['Int32ExLTGT', { val: 11 }, []],
  ['Int32ExLTGT', { val: 0 }, ['int32.gt_lt']],
  ['Int32ExLTGT', { val: 10 }, ['int32.gt_lt']],
  ['Int32ExLTGT', { val: 5 }, ['int32.gt_lt']],
  ['Int32GTELTE', { val: 128 }, []],
  ['Int32GTELTE', { val: 256 }, []],
  ['Int32GTELTE', { val: 127 }, ['int32.gte']],
  ['Int32GTELTE', { val: 257 }, ['int32.lte']],
  ['Int32ExGTELTE', { val: 128 }, []],
  ['Int32ExGTELTE', { val: 256 }, []],
  ['Int32ExGTELTE', { val: 200 }, ['int32.gte_lte']],
  ['FloatConst', { val: 1.23 }, []], // float32 rounding of value and rule must agree
  ['FloatConst', { val: 1.24 }, ['float.const']],
  ['FloatIn', { val: 7.89 }, []],
  ['FloatIn', { val: 7.8 }, ['float.in']],
  ['FloatExLTGT', { val: 5 }, ['float.gt_lt']],
  ['DoubleGTELTE', { val: 256 }, []],
  ['DoubleGTELTE', { val: 256.0001 }, ['double.lte']],
  ['DoubleNotIn', { val: 0 }, ['double.not_in']],
  ['Int64GT', { val: '17' }, []],
  ['Int64GT', { val: 16 }, ['int64.gt']],
  ['Int64ExLTGT', { val: '-9223372036854775808' }, []],
  ['Int64ExLTGT', { val: 5 }, ['int64.gt_lt']],
  ['UInt32LTE', { val: 65 }, ['uint32.lte']],
  ['UInt32ExGTELTE', { val: 4294967295 }, []],
  ['UInt64GTLT', { val: 7 }, []],
  ['UInt64GTLT', { val: '18446744073709551615' }, ['uint64.lt']], // must not be read as -1
  ['UInt64In', { val: 4 }, ['uint64.in']],
  ['SInt32LT', { val: 0 }, ['sint32.lt']],
  ['SInt64LT', { val: '-1' }, []],
  ['SInt64LT', { val: 0 }, ['sint64.lt']],
  ['Fixed32GTE', { val: 7 }, ['fixed32.gte']],
  ['Fixed64Const', { val: 1 }, []],
  ['Fixed64Const', { val: 2 }, ['fixed64.const']],
  ['SFixed32ExGTELTE', { val: 300 }, []],
  ['SFixed32ExGTELTE', { val: 200 }, ['sfixed32.gte_lte']],
  ['SFixed64NotIn', { val: 0 }, ['sfixed64.not_in']],
  ['shardvoy.pgvtest.Big', { u: '9007199254740993', s: -5 }, []],
  ['shardvoy.pgvtest.Big', { u: '9007199254740992', s: -6 }, ['uint64.gt', 'sint64.gte']],
  // bool
  ['BoolConstTrue', { val: true }, []],
  ['BoolConstTrue', {}, ['bool.const']],
  ['BoolConstFalse', { val: true }, ['bool.const']],
  // strings
  ['StringConst', { val: 'foo' }, []],
  ['StringConst', { val: 'bar' }, ['string.const']],
  ['StringIn', { val: 'baz' }, []],
  ['StringIn', { val: 'foo' }, ['string.in']],
  ['StringNotIn', { val: 'fizz' }, ['string.not_in']],
  ['StringLen', { val: '😀☃a' }, []], // code points, not UTF-16 units or bytes
  ['StringLen', { val: 'ba' }, ['string.len']],
  ['StringMinLen', {}, ['string.min_len']],
  ['StringMaxLen', { val: 'abcdef' }, ['string.max_len']],
  ['StringMinMaxLen', { val: 'abcdef' }, ['string.max_len']],
  ['StringLenBytes', { val: 'pace' }, []],
  ['StringLenBytes', { val: '☃' }, ['string.len_bytes']],
  ['StringMinBytes', { val: 'ab☃' }, []],
  ['StringMinBytes', { val: 'abc' }, ['string.min_bytes']],
  ['StringMaxBytes', { val: '☃☃☃' }, ['string.max_bytes']],
  ['StringPattern', { val: 'Foo123' }, []], // (?i) leading flag
  ['StringPattern', { val: 'foo bar' }, ['string.pattern']],
  ['StringPatternEscapes', { val: '* \\ x' }, []],
  ['StringPatternEscapes', { val: 'invalid' }, ['string.pattern']],
  ['StringPrefix', { val: 'foobar' }, []],
  ['StringPrefix', { val: 'barfoo' }, ['string.prefix']],
  ['StringContains', { val: 'candy bars' }, []],
  ['StringContains', { val: 'candy' }, ['string.contains']],
  ['StringNotContains', { val: 'candy bars' }, ['string.not_contains']],
  ['StringSuffix', { val: 'foobaz' }, []],
  ['StringSuffix', { val: 'bazfoo' }, ['string.suffix']],
  ['StringEmail', { val: 'foo@bar.com' }, []],
  ['StringEmail', { val: 'John Smith <foo@bar.com>' }, []],
  ['StringEmail', { val: 'foobar' }, ['string.email']],
  ['StringEmail', { val: 'foo@-bar.com' }, ['string.email']],
  ['StringAddress', { val: 'example.com' }, []],
  ['StringAddress', { val: '2001:db8::1' }, []],
  ['StringAddress', { val: 'exa mple' }, ['string.address']],
  ['StringHostname', { val: 'Example.com.' }, []],
  ['StringHostname', { val: 'ex_ample.com' }, ['string.hostname']],
  ['StringHostname', { val: `${'a'.repeat(64)}.com` }, ['string.hostname']],
  ['StringIP', { val: '192.168.0.1' }, []],
  ['StringIP', { val: '::1' }, []],
  ['StringIP', { val: 'foobar' }, ['string.ip']],
  ['StringIPv4', { val: '::1' }, ['string.ipv4']],
  ['StringIPv4', { val: '256.0.0.1' }, ['string.ipv4']],
  ['StringIPv6', { val: 'fe80::1' }, []],
  ['StringIPv6', { val: '192.168.0.1' }, ['string.ipv6']],
  ['StringURI', { val: 'https://example.com/foo/bar?baz=quux#frag' }, []],
  ['StringURI', { val: '/foo/bar' }, ['string.uri']],
  ['StringURI', { val: 'http://exa mple.com' }, ['string.uri']],
  ['StringURIRef', { val: '/foo/bar?baz=quux' }, []],
  ['StringURIRef', { val: 'foo bar' }, ['string.uri_ref']],
  ['StringUUID', { val: '8b72987b-024a-43b3-b4cf-647a1f925c5d' }, []],
  ['StringUUID', { val: '8b72987b-024a-43b3-b4cf-647a1f925c5' }, ['string.uuid']],
  ['StringHttpHeaderName', { val: 'content-type' }, []],
  ['StringHttpHeaderName', { val: ':path' }, []],
  ['StringHttpHeaderName', { val: 'content type' }, ['string.well_known_regex']],
  ['StringHttpHeaderName', {}, ['string.well_known_regex']],
  ['StringHttpHeaderValue', { val: 'text/html;\tq=1' }, []],
  ['StringHttpHeaderValue', { val: 'a\u0001b' }, ['string.well_known_regex']],
  ['StringValidHeader', { val: 'a\u0001b' }, []], // strict: false only refuses NUL, CR, LF
  ['StringValidHeader', { val: 'a\r\nb' }, ['string.well_known_regex']],
  ['shardvoy.pgvtest.Re2', { s: '0123' }, []], // \A, \z and [[:digit:]] rewritten for JS
  ['shardvoy.pgvtest.Re2', { s: '01a' }, ['string.pattern']],
  // bytes
  ['BytesConst', { val: bytes('foo') }, []],
  ['BytesConst', { val: bytes('bar') }, ['bytes.const']],
  ['BytesIn', { val: bytes('bar') }, []],
  ['BytesIn', { val: bytes('quux') }, ['bytes.in']],
  ['BytesNotIn', { val: bytes('fizz') }, ['bytes.not_in']],
  ['BytesLen', { val: bytes('baz') }, []],
  ['BytesLen', { val: bytes('bazz') }, ['bytes.len']],
  ['BytesMinLen', {}, ['bytes.min_len']],
  ['BytesMaxLen', { val: bytes('123456') }, ['bytes.max_len']],
  ['BytesContains', { val: bytes('candy bars') }, []],
  ['BytesContains', { val: bytes('candy') }, ['bytes.contains']],
  ['BytesIP', { val: Uint8Array.from([10, 0, 0, 1]) }, []],
  ['BytesIP', { val: new Uint8Array(16) }, []],
  ['BytesIP', { val: new Uint8Array(5) }, ['bytes.ip']],
  ['BytesIPv4', { val: new Uint8Array(16) }, ['bytes.ipv4']],
  ['BytesIPv6', { val: new Uint8Array(4) }, ['bytes.ipv6']],
  ['shardvoy.pgvtest.BytesAscii', { prefix: bytes('abc'), suffix: bytes('xyz'), pattern: bytes('abc') }, []],
  ['shardvoy.pgvtest.BytesAscii', { prefix: bytes('a'), suffix: bytes('z'), pattern: bytes('ABC') }, ['bytes.prefix', 'bytes.suffix', 'bytes.pattern']],
  // enums
  ['EnumConst', { val: 'TWO' }, []],
  ['EnumConst', { val: 1 }, ['enum.const']],
  ['EnumDefined', { val: 2 }, []],
  ['EnumDefined', { val: 2147483647 }, ['enum.defined_only']],
  ['EnumAliasDefined', { val: 1 }, []],
  ['EnumIn', { val: 1 }, ['enum.in']],
  ['EnumNotIn', { val: 1 }, ['enum.not_in']],
  ['EnumExternal', { val: 1 }, ['enum.defined_only']],
  ['RepeatedEnumDefined', { val: [1, 5] }, ['enum.defined_only']],
  ['MapEnumDefined', { val: { a: 1, b: 9 } }, ['enum.defined_only']],
  // messages
  ['Message', { val: { const: 'foo' } }, []],
  ['Message', { val: { const: 'bar' } }, ['string.const']],
  ['Message', {}, []], // unset sub-messages are not validated
  ['MessageCrossPackage', { val: { val: 0 } }, ['int64.gt']],
  ['MessageRequired', {}, ['message.required']],
  ['MessageRequired', { val: { const: 'foo' } }, []],
  ['MessageSkip', { val: { const: 'bar' } }, []],
  ['MessageDisabled', { val: 0 }, []],
  ['TestMsg', { const: 'foo', nested: { const: 'foo', nested: { const: 'x' } } }, ['string.const']],
  ['shardvoy.pgvtest.HoldsDisabled', {}, ['message.required']], // the parent's rule still applies
  ['shardvoy.pgvtest.HoldsDisabled', { inner: { val: 1 } }, []],
  ['shardvoy.pgvtest.Ignored', { s: '' }, []],
  // oneofs and proto3 optional
  ['OneOfNone', {}, []],
  ['OneOf', {}, []], // x's prefix rule would fail on "", but x is not set
  ['OneOf', { x: 'foobar' }, []],
  ['OneOf', { x: 'bar' }, ['string.prefix']],
  ['OneOf', { y: 0 }, ['int32.gt']],
  ['OneOf', { z: { val: false } }, ['bool.const']],
  ['OneOfRequired', {}, ['oneof.required']],
  ['OneOfRequired', { x: '' }, []],
  ['shardvoy.pgvtest.Optional', {}, []],
  ['shardvoy.pgvtest.Optional', { s: 'a' }, ['string.min_len']],
  // ignore_empty
  ['shardvoy.pgvtest.IgnoreEmpty', {}, []],
  ['shardvoy.pgvtest.IgnoreEmpty', { s: 'ab', n: 9, r: ['x'] }, ['string.min_len', 'uint32.gte', 'repeated.min_items']],
  // repeated
  ['RepeatedMin', { val: [{ val: 1 }, { val: 2 }] }, []],
  ['RepeatedMin', { val: [{ val: 1 }] }, ['repeated.min_items']],
  ['RepeatedMin', { val: [{ val: 1 }, { val: -1 }] }, ['int64.gt']],
  ['RepeatedMax', { val: [1, 2, 3, 4] }, ['repeated.max_items']],
  ['RepeatedExact', { val: [1, 2, 3] }, []],
  ['RepeatedExact', { val: [1, 2] }, ['repeated.min_items']],
  ['RepeatedUnique', { val: ['foo', 'bar'] }, []],
  ['RepeatedUnique', { val: ['foo', 'bar', 'foo'] }, ['repeated.unique']],
  ['RepeatedItemRule', { val: [1, 0] }, ['float.gt']],
  ['RepeatedItemIn', { val: ['foo', 'baz'] }, ['string.in']],
  ['RepeatedEnumNotIn', { val: [1, 0] }, ['enum.not_in']],
  ['RepeatedEmbedSkip', { val: [{ val: -1 }] }, []],
  ['RepeatedMinAndItemLen', {}, ['repeated.min_items']],
  ['RepeatedMinAndItemLen', { val: ['aaa', 'bb'] }, ['string.len']],
  ['RepeatedDuration', { val: [{ seconds: 1 }, { nanos: 1 }] }, ['duration.gte']],
  // maps
  ['MapNone', { val: { 1: true } }, []],
  ['MapMin', { val: { 1: 1 } }, ['map.min_pairs']],
  ['MapMax', { val: { 1: 1, 2: 2, 3: 3, 4: 4 } }, ['map.max_pairs']],
  ['MapExact', { val: { 1: 'a', 2: 'b', 3: 'c' } }, []],
  ['MapKeys', { val: { '-1': 'a' } }, []],
  ['MapKeys', { val: { 1: 'a' } }, ['map.keys.sint64.lt']],
  ['MapValues', { val: { a: 'abc', b: 'ab' } }, ['string.min_len']],
  ['MapKeysPattern', { val: { 'a b': 'x' } }, ['map.keys.string.pattern']],
  ['MapRecursive', { val: { 1: { val: 'ab' } } }, ['string.min_len']],
  // well-known types
  ['AnyNone', { val: durationAny(1) }, []],
  ['AnyNone', { val: { type_url: 'type.googleapis.com/not.Known' } }, ['any.type_url']],
  ['AnyRequired', {}, ['any.required']],
  ['AnyIn', { val: durationAny(1) }, []],
  ['AnyIn', { val: { type_url: 'type.googleapis.com/google.protobuf.Timestamp' } }, ['any.in']],
  ['AnyNotIn', { val: { type_url: 'type.googleapis.com/google.protobuf.Timestamp' } }, ['any.not_in']],
  ['shardvoy.pgvtest.DurRequired', {}, ['duration.required']],
  ['shardvoy.pgvtest.DurRequired', { val: {} }, []],
  ['shardvoy.pgvtest.DurConst', { val: { seconds: 3 } }, []],
  ['shardvoy.pgvtest.DurConst', { val: { seconds: 3, nanos: 1 } }, ['duration.const']],
  ['shardvoy.pgvtest.DurConst', {}, []], // non-required rules apply only when set
  ['shardvoy.pgvtest.DurIn', { val: { nanos: 1000 } }, []],
  ['shardvoy.pgvtest.DurIn', { val: { seconds: 2 } }, ['duration.in']],
  ['shardvoy.pgvtest.DurNotIn', { val: {} }, ['duration.not_in']],
  ['shardvoy.pgvtest.DurGtLt', { val: { nanos: 1 } }, []],
  ['shardvoy.pgvtest.DurGtLt', { val: { seconds: 1 } }, ['duration.lt']],
  ['shardvoy.pgvtest.DurExLtGt', { val: { seconds: 2 } }, []],
  ['shardvoy.pgvtest.DurExLtGt', { val: { nanos: 5 } }, ['duration.gt_lt']],
  ['shardvoy.pgvtest.DurLte', { val: { seconds: 1, nanos: 500000000 } }, []],
  ['shardvoy.pgvtest.DurLte', { val: { seconds: 1, nanos: 500000001 } }, ['duration.lte']],
  ['TimestampRequired', {}, ['timestamp.required']],
  ['TimestampConst', { val: { seconds: 3 } }, []],
  ['TimestampConst', { val: { seconds: 4 } }, ['timestamp.const']],
  ['TimestampGTLT', { val: { nanos: 1 } }, []],
  ['TimestampGTLT', { val: { seconds: 1 } }, ['timestamp.lt']],
  ['TimestampExLTGT', { val: { seconds: 2 } }, []],
  ['TimestampExLTGT', { val: { nanos: 1 } }, ['timestamp.gt_lt']],
  ['TimestampLTNow', { val: { seconds: nowSeconds - 60 } }, []],
  ['TimestampLTNow', { val: { seconds: nowSeconds + 3600 } }, ['timestamp.lt_now']],
  ['TimestampGTNow', { val: { seconds: nowSeconds + 3600 } }, []],
  ['TimestampGTNow', { val: { seconds: nowSeconds - 60 } }, ['timestamp.gt_now']],
  ['TimestampWithin', { val: { seconds: nowSeconds } }, []],
  ['TimestampWithin', { val: { seconds: nowSeconds - 7200 } }, ['timestamp.within']],
  ['WrapperNone', { val: { value: -1 } }, []],
  ['WrapperFloat', {}, []],
  ['WrapperFloat', { val: { value: 1 } }, []],
  ['WrapperFloat', { val: {} }, ['float.gt']],
  ['WrapperInt64', { val: { value: '-1' } }, ['int64.gt']],
  ['WrapperUInt64', { val: { value: 1 } }, []],
  ['WrapperBool', { val: { value: false } }, ['bool.const']],
  ['WrapperString', { val: { value: 'foobar' } }, []],
  ['WrapperString', { val: { value: 'fizzbuzz' } }, ['string.suffix']],
  ['WrapperBytes', { val: { value: bytes('x') } }, ['bytes.min_len']],
  ['WrapperRequiredString', {}, ['message.required']],
  ['WrapperRequiredString', { val: { value: 'bar' } }, []],
  ['WrapperRequiredEmptyString', { val: {} }, []],
  ['WrapperOptionalUuidString', {}, []],
  ['WrapperOptionalUuidString', { val: { value: 'nope' } }, ['string.uuid']],
  ['WrapperRequiredFloat', {}, ['message.required']],
  // a message breaking many rules at once, every one reported
  [
    'KitchenSinkMessage',
    { val: {} },
    ['oneof.required', 'string.const', 'int32.const', 'duration.required', 'double.in', 'enum.const', 'bytes.const'],
  ],
  [
    'KitchenSinkMessage',
    {
      val: {
        const: 'abcd', int_const: 5, float_val: { value: 1 }, dur_val: { seconds: 1 }, ts_val: { seconds: 8 }, double_in: 123,
        enum_const: 2, any_val: durationAny(2), rep_ts_val: [{ seconds: 1 }], map_val: { '-1': 'a' }, x: 'x',
        another: { const: 'nope' },
      },
    },
    // `another` (all defaults) fails like the case above; bytes_val stays unset, so its const fails last.
    ['oneof.required', 'string.const', 'int32.const', 'duration.required', 'double.in', 'enum.const', 'bytes.const', 'bytes.const'],
  ],
];

describe('rule engine against the PGV harness protos', () => {
  it.each(CASES)('%s %j -> %j', (name, object, expected) => {
    const type = harnessType(name);
    expect(rulesOf(validateMessage(type, type.fromObject(object)))).toEqual(expected);
  });

  it.each(CASES)('after a wire round trip: %s %j -> %j', (name, object, expected) => {
    const type = harnessType(name);
    const decoded = type.decode(type.encode(type.fromObject(object)).finish());
    expect(rulesOf(validateMessage(type, decoded))).toEqual(expected);
  });

  it('reports paths for repeated elements, map entries, nested and oneof violations', () => {
    const paths = (name: string, object: Obj) => validateMessage(harnessType(name), harnessType(name).fromObject(object)).map((v) => v.path);
    expect(paths('RepeatedMin', { val: [{ val: 1 }, { val: -1 }] })).toEqual(['val[1].val']);
    expect(paths('RepeatedUnique', { val: ['a', 'b', 'a'] })).toEqual(['val[2]']);
    expect(paths('MapValues', { val: { good: 'abc', bad: 'ab' } })).toEqual(['val["bad"]']);
    expect(paths('MapKeys', { val: { 7: 'a' } })).toEqual(['val[7]']);
    expect(paths('TestMsg', { const: 'foo', nested: { const: 'foo', nested: { const: 'x' } } })).toEqual(['nested.nested.const']);
    expect(paths('OneOfRequired', {})).toEqual(['o']);
    expect(paths('AnyNone', { val: durationAny(1) })).toEqual([]);
  });

  it('checks only the member protobufjs reports as set when an object sets several of a oneof', () => {
    const rules = (object: Obj) => rulesOf(validateMessage(harnessType('OneOf'), harnessType('OneOf').fromObject(object)));
    expect(rules({ x: 'bar', y: 0 })).toEqual(['int32.gt']); // the last set member wins, as in oneofCase
    expect(rules({ y: 0, z: { val: false } })).toEqual(['bool.const']);
  });

  it('flags sparse map entries (map.no_sparse) from the wire', () => {
    // field 1 (map entry) holding only key 1 and no value
    const entryWithoutValue = Uint8Array.from([0x0a, 0x02, 0x08, 0x01]);
    expect(validateEncoded('tests.harness.cases.MapNoSparse', entryWithoutValue, harnessRoot)).toEqual([
      { path: 'val[1]', rule: 'map.no_sparse', message: 'value cannot be unset' },
    ]);
    expect(validateEncoded('tests.harness.cases.MapNoSparse', Uint8Array.from([0x0a, 0x04, 0x08, 0x01, 0x12, 0x00]), harnessRoot)).toEqual([]);
  });

  it('formats range messages the PGV way', () => {
    const messages = (name: string, object: Obj) => validateMessage(harnessType(name), harnessType(name).fromObject(object)).map((v) => v.message);
    expect(messages('Int32ExLTGT', { val: 5 })).toEqual(['must be outside range [0, 10]']);
    expect(messages('Int32ExGTELTE', { val: 200 })).toEqual(['must be outside range (128, 256)']);
    expect(messages('Int32GTLT', { val: 10 })).toEqual(['must be inside range (0, 10)']);
    expect(messages('shardvoy.pgvtest.DurLte', { val: { seconds: 2 } })).toEqual(['must be less than or equal to 1.5s']);
  });
});

describe('well-known format helpers', () => {
  it('hostname', () => {
    expect(isHostname('redis-0.shard.svc.cluster.local')).toBe(true);
    expect(isHostname('-bad.example')).toBe(false);
    expect(isHostname('bad-.example')).toBe(false);
    expect(isHostname('')).toBe(false);
    expect(isHostname('a..b')).toBe(false);
  });

  it('email', () => {
    expect(isEmail('ops+alerts@example.com')).toBe(true);
    expect(isEmail('"quoted local"@example.com')).toBe(true);
    expect(isEmail(`${'a'.repeat(65)}@example.com`)).toBe(false);
    expect(isEmail('@example.com')).toBe(false);
  });

  it('uri and uri_ref', () => {
    expect(isUri('http://[2001:db8::1]:8080/p?q#f', true)).toBe(true);
    expect(isUri('urn:isbn:0451450523', true)).toBe(true);
    expect(isUri('http://host:port/', true)).toBe(false);
    expect(isUri('http://[not-ip]/', true)).toBe(false);
    expect(isUri('%zz', false)).toBe(false);
    expect(isUri('a:b', false)).toBe(true); // parses as scheme "a"
    expect(isUri('../up/one', false)).toBe(true);
    expect(isUri('../up/one', true)).toBe(false);
  });

  it('compiles every pattern annotated in the Envoy protos', () => {
    const patterns = new Set<string>();
    const collect = (node: unknown): void => {
      if (typeof node !== 'object' || node === null) return;
      for (const [key, value] of Object.entries(node)) {
        if (key === 'pattern' && typeof value === 'string') patterns.add(value);
        else collect(value);
      }
    };
    const walk = (ns: protobuf.NamespaceBase): void => {
      for (const nested of ns.nestedArray) {
        if (nested instanceof protobuf.Type) for (const field of nested.fieldsArray) collect(field.parsedOptions);
        if (nested instanceof protobuf.Namespace) walk(nested);
      }
    };
    walk(envoyType('envoy.config.cluster.v3.Cluster').root);
    expect(patterns.size).toBeGreaterThan(0);
    for (const pattern of patterns) expect(() => compileRe2(pattern), pattern).not.toThrow();
  });

  it('compileRe2 refuses what JS cannot express rather than guessing', () => {
    expect(compileRe2('(?i)^abc$').test('ABC')).toBe(true);
    expect(compileRe2('(?P<word>\\w+)').exec('hi')?.groups?.word).toBe('hi');
    expect(compileRe2('\\Qa.b\\E').test('a.b')).toBe(true);
    expect(compileRe2('\\Qa.b\\E').test('axb')).toBe(false);
    expect(() => compileRe2('(?U)a+')).toThrow(/ungreedy/);
  });
});
