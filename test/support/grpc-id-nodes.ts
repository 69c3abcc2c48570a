/**
 * gRPC stand-ins for DKV nodes behind Envoy's HTTP/2 listeners: each serves one unary method
 * that answers with the node's id, so a caller can tell which node Envoy routed a call to.
 * Raw bytes both ways: no .proto is needed to tell nodes apart.
 */
import * as grpc from '@grpc/grpc-js';

const bytes = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
const WHO: grpc.MethodDefinition<Buffer, Buffer> = {
  path: '/shardvoy.test.Node/Who',
  requestStream: false,
  responseStream: false,
  requestSerialize: bytes.serialize,
  requestDeserialize: bytes.deserialize,
  responseSerialize: bytes.serialize,
  responseDeserialize: bytes.deserialize,
};

export interface GrpcIdNode {
  readonly id: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startGrpcIdNode(id: string): Promise<GrpcIdNode> {
  const server = new grpc.Server();
  server.addService({ Who: WHO }, { Who: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => callback(null, Buffer.from(id)) });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return { id, port, close: () => new Promise((resolve) => server.tryShutdown(() => resolve())) };
}

/** A client of Envoy's HTTP/2 listener that names the cluster it wants in :authority. */
export class WhoClient {
  private readonly client: grpc.Client;

  constructor(address: string, authority: string) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure(), { 'grpc.default_authority': authority });
  }

  who(timeoutMs = 2_000): Promise<string> {
    return new Promise((resolve, reject) =>
      this.client.makeUnaryRequest(WHO.path, WHO.requestSerialize, WHO.responseDeserialize, Buffer.alloc(0), { deadline: Date.now() + timeoutMs }, (error, reply) =>
        error ? reject(error) : resolve(reply!.toString()),
      ),
    );
  }

  close(): void {
    this.client.close();
  }
}
