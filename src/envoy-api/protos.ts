/**
 * Loads the Envoy API from the .proto files that @grpc/grpc-js-xds ships under deps/
 * (envoy-api, xds, googleapis, protoc-gen-validate), so the repo carries no copy of them.
 * One protobufjs Root serves encoding, decoding, reflection and the validate-rule checks.
 */
import { createRequire } from 'node:module';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);

/** The Envoy API files shardvoy speaks; their imports are pulled in transitively. */
const ENVOY_FILES = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/listener/v3/lds.proto',
  'envoy/service/cluster/v3/cds.proto',
  'envoy/service/endpoint/v3/eds.proto',
  'envoy/service/route/v3/rds.proto',
  'envoy/service/status/v3/csds.proto',
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
];

export function envoyIncludeDirs(): string[] {
  const xdsPackage = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
  const deps = path.join(xdsPackage, 'deps');
  const protobufjsPackage = path.dirname(require.resolve('protobufjs/package.json'));
  return [
    path.join(deps, 'envoy-api'),
    path.join(deps, 'xds'),
    path.join(deps, 'googleapis'),
    path.join(deps, 'protoc-gen-validate'),
    // google/protobuf/*.proto (descriptor, any, duration, ...) as protobufjs ships them.
    protobufjsPackage,
  ];
}

/** A Root whose imports resolve against the given include directories, as protoc's -I does. */
export function rootWithIncludes(includeDirs: readonly string[]): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (path.isAbsolute(target)) return target;
    for (const dir of includeDirs) {
      const candidate = path.join(dir, target);
      try {
        accessSync(candidate, constants.R_OK);
        return candidate;
      } catch {
        // not in this include dir; try the next
      }
    }
    return target;
  };
  return root;
}

let cached: protobuf.Root | undefined;

/** The Envoy API root, loaded once per process (about 0.3 s). */
export function envoyRoot(): protobuf.Root {
  if (!cached) {
    const root = rootWithIncludes(envoyIncludeDirs());
    root.loadSync(ENVOY_FILES, { keepCase: true });
    root.resolveAll();
    cached = root;
  }
  return cached;
}

const types = new Map<string, protobuf.Type>();

/** A message type by full name; looked up once (a namespace walk is costly on the hot path). */
export function envoyType(fullName: string): protobuf.Type {
  let type = types.get(fullName);
  if (!type) types.set(fullName, (type = envoyRoot().lookupType(fullName)));
  return type;
}
