/**
 * Stand-in nodes for traffic through a real Envoy: TCP servers that answer every chunk they
 * receive with their own id and a newline, so a client can tell which node Envoy sent it to.
 */
import net from 'node:net';

export interface IdNode {
  readonly id: string;
  readonly port: number;
  /** Connections this node has accepted so far. */
  accepted(): number;
  close(): Promise<void>;
}

export async function startIdNode(id: string, host = '127.0.0.1', port = 0): Promise<IdNode> {
  let accepted = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    accepted += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.on('data', () => socket.write(`${id}\n`));
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  return {
    id,
    port: (server.address() as net.AddressInfo).port,
    accepted: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A client connection that can ask, again and again, which node it reaches, and knows when it is closed. */
export class NodeConnection {
  private buffered = '';
  private waiter: ((line: string | Error) => void) | undefined;
  private closedAt: number | undefined;
  readonly closed: Promise<number>;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffered += chunk;
      const at = this.buffered.indexOf('\n');
      if (at < 0 || !this.waiter) return;
      const line = this.buffered.slice(0, at);
      this.buffered = this.buffered.slice(at + 1);
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter(line);
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.closedAt = Date.now();
        this.waiter?.(new Error('connection closed'));
        this.waiter = undefined;
        resolve(this.closedAt);
      }),
    );
  }

  static open(port: number, host = '127.0.0.1', timeoutMs = 2_000): Promise<NodeConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${host}:${port} timed out`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new NodeConnection(socket));
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  get isClosed(): boolean {
    return this.closedAt !== undefined;
  }

  /** Which node answers on this connection now; rejects when the connection closes or stays silent. */
  ask(timeoutMs = 2_000): Promise<string> {
    if (this.isClosed) return Promise.reject(new Error('connection closed'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = (line) => {
        clearTimeout(timer);
        if (line instanceof Error) reject(line);
        else resolve(line);
      };
      this.socket.write('who\n');
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Opens a connection, asks which node answers, closes it. */
export async function whoAnswers(port: number, host = '127.0.0.1', timeoutMs = 2_000): Promise<string> {
  const connection = await NodeConnection.open(port, host, timeoutMs);
  try {
    return await connection.ask(timeoutMs);
  } finally {
    connection.close();
  }
}
