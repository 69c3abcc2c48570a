/** Tiny HTTP servers standing in for a node's endpoints or for shardvoy itself. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StandIn {
  readonly base: string;
  readonly port: number;
  readonly requests: Array<{ method: string; url: string; body: string; authorization: string | undefined; at: number }>;
  close(): Promise<void>;
}

export async function startStandIn(handler: http.RequestListener, port = 0): Promise<StandIn> {
  const requests: StandIn['requests'] = [];
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      requests.push({ method: request.method ?? '', url: request.url ?? '', body, authorization: request.headers.authorization, at: Date.now() });
      handler(request, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const bound = (server.address() as AddressInfo).port;
  return {
    base: `http://127.0.0.1:${bound}`,
    port: bound,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export async function withHttpServer(handler: http.RequestListener, use: (base: string) => Promise<void>): Promise<void> {
  const standIn = await startStandIn(handler);
  try {
    await use(standIn.base);
  } finally {
    await standIn.close();
  }
}
