/**
 * A TCP proxy in front of one address, to cut one client off from it as a network would: while
 * blackholed, nothing is forwarded either way on the connections it holds, and connections made
 * meanwhile are accepted but go nowhere; no socket is closed or reset. restore() lets everything
 * flow again, as a network that heals does: held connections resume (what was written in between
 * is delivered then), and the connections accepted meanwhile are connected onwards.
 */
import net from 'node:net';

interface Pair {
  readonly client: net.Socket;
  upstream?: net.Socket;
  flowing: boolean;
}

export class TcpProxy {
  private server: net.Server | undefined;
  private readonly pairs = new Set<Pair>();
  private blackholed = false;
  private closed = false;

  /** `target`: "host:port". */
  constructor(readonly target: string) {}

  /** 127.0.0.1:PORT, once listen() resolved. */
  get endpoint(): string {
    const address = this.server?.address();
    if (!address || typeof address === 'string') throw new Error('the TCP proxy is not listening');
    return `127.0.0.1:${address.port}`;
  }

  /** Connections held now (both directions forwarded or not). */
  get connections(): number {
    return this.pairs.size;
  }

  get isBlackholed(): boolean {
    return this.blackholed;
  }

  async listen(): Promise<this> {
    const server = net.createServer({ pauseOnConnect: true }, (client) => this.accept(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return this;
  }

  /** Stop forwarding anything, both ways, on every connection held and every one accepted from now. */
  blackhole(): void {
    this.blackholed = true;
    for (const pair of this.pairs) hold(pair);
  }

  /** Forward again: held connections resume, connections accepted meanwhile are connected onwards. */
  restore(): void {
    this.blackholed = false;
    for (const pair of this.pairs) this.forward(pair);
  }

  /** Drops every connection held, as a reset would; new connections are accepted as before. */
  reset(): void {
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream?.destroy();
    }
    this.pairs.clear();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream?.destroy();
    }
    this.pairs.clear();
    const server = this.server;
    if (server?.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    if (this.closed) {
      client.destroy();
      return;
    }
    const pair: Pair = { client, flowing: false };
    this.pairs.add(pair);
    const drop = () => {
      client.destroy();
      pair.upstream?.destroy();
      this.pairs.delete(pair);
    };
    client.on('error', drop);
    client.on('close', drop);
    // Accepted but paused (pauseOnConnect): a connection made while blackholed stays so.
    if (!this.blackholed) this.forward(pair);
  }

  private forward(pair: Pair): void {
    if (pair.flowing) return;
    pair.flowing = true;
    if (!pair.upstream) {
      const at = this.target.lastIndexOf(':');
      const upstream = net.connect({ host: this.target.slice(0, at), port: Number(this.target.slice(at + 1)) });
      pair.upstream = upstream;
      const drop = () => {
        upstream.destroy();
        pair.client.destroy();
        this.pairs.delete(pair);
      };
      upstream.on('error', drop);
      upstream.on('close', drop);
    }
    // pipe() resumes each side; each end() is passed on, as a FIN would be.
    pair.client.pipe(pair.upstream);
    pair.upstream.pipe(pair.client);
  }
}

function hold(pair: Pair): void {
  pair.flowing = false;
  pair.client.unpipe();
  pair.client.pause();
  if (pair.upstream) {
    pair.upstream.unpipe();
    pair.upstream.pause();
  }
}

/** A proxy listening on 127.0.0.1 in front of `target`. */
export async function startTcpProxy(target: string): Promise<TcpProxy> {
  return new TcpProxy(target).listen();
}
