/**
 * Another network for the end-to-end suites: a network namespace joined to this host by one veth
 * pair, whose only route is that link. A client inside it reaches the host-side address of the
 * pair (where the test makes Envoy listen) and nothing else of this machine: not its loopback,
 * where the nodes listen. Needs root (`ip netns`); every namespace made here is removed by
 * remove(), and any left by a crashed run is removed by the e2e global setup.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { ROOT } from './readme.js';

export const NAMESPACE_PREFIX = 'sve2e-';

export interface OtherNetwork {
  readonly name: string;
  /** The host's end of the link: where Envoy listens for clients of that network. */
  readonly hostAddress: string;
  /** The namespace's own address. */
  readonly address: string;
  /** A client running inside the namespace. */
  readonly client: NamespaceClient;
  remove(): Promise<void>;
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export async function createOtherNetwork(): Promise<OtherNetwork> {
  const tag = randomBytes(3).toString('hex');
  // The creator's pid in the name: stale ones are told from those of a run still going.
  const name = `${NAMESPACE_PREFIX}${process.pid}-${tag}`;
  const hostSide = `svh${tag}`;
  const nsSide = `svn${tag}`;
  // A /30 of our own on the link; the third octet is random so that parallel runs do not clash.
  const subnet = `10.254.${randomBytes(1)[0]! % 250}`;
  const hostAddress = `${subnet}.1`;
  const address = `${subnet}.2`;
  const remove = async () => {
    await client?.close();
    try {
      ip('netns', 'del', name); // takes the namespace's end of the pair, and so the pair, with it
    } catch {
      /* already gone */
    }
    try {
      ip('link', 'del', hostSide);
    } catch {
      /* went with the namespace */
    }
  };
  let client: NamespaceClient | undefined;
  try {
    ip('netns', 'add', name);
    ip('link', 'add', hostSide, 'type', 'veth', 'peer', 'name', nsSide);
    ip('link', 'set', nsSide, 'netns', name);
    ip('addr', 'add', `${hostAddress}/30`, 'dev', hostSide);
    ip('link', 'set', hostSide, 'up');
    ip('-n', name, 'addr', 'add', `${address}/30`, 'dev', nsSide);
    ip('-n', name, 'link', 'set', nsSide, 'up');
    ip('-n', name, 'link', 'set', 'lo', 'up');
    client = await NamespaceClient.start(name);
    return { name, hostAddress, address, client, remove };
  } catch (error) {
    await remove();
    throw new Error(`could not make a network namespace (needs root and iproute2): ${(error as Error).message}`);
  }
}

/** Removes namespaces that runs which crashed left behind (their creating process is gone). */
export function removeStaleNamespaces(): void {
  let listing = '';
  try {
    listing = ip('netns', 'list');
  } catch {
    return;
  }
  for (const line of listing.split('\n')) {
    const name = line.split(' ')[0];
    if (!name?.startsWith(NAMESPACE_PREFIX)) continue;
    const pid = Number(name.slice(NAMESPACE_PREFIX.length).split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) continue;
    ip('netns', 'del', name);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Asks, from inside the namespace, which node answers at host:port (see netns-client.ts). */
export class NamespaceClient {
  private seq = 0;
  private readonly waiting = new Map<number, (reply: { answer?: string; error?: string }) => void>();

  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const reply = JSON.parse(line) as { seq: number; answer?: string; error?: string };
      this.waiting.get(reply.seq)?.(reply);
      this.waiting.delete(reply.seq);
    });
  }

  static async start(namespace: string): Promise<NamespaceClient> {
    const script = path.join(ROOT, 'test', 'support', 'netns-client.ts');
    const child = spawn('ip', ['netns', 'exec', namespace, process.execPath, '--import', 'tsx', script], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
    const client = new NamespaceClient(child);
    await client.ask('127.0.0.1', 1).catch(() => undefined); // the first answer says it is up
    return client;
  }

  /** The id of the node that answered, or an error naming why not (refused, closed, timed out). */
  ask(host: string, port: number): Promise<string> {
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.waiting.set(seq, (reply) => (reply.answer !== undefined ? resolve(reply.answer) : reject(new Error(reply.error))));
      this.child.stdin!.write(`${JSON.stringify({ seq, host, port })}\n`);
    });
  }

  close(): Promise<void> {
    if (this.child.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.stdin!.end();
    });
  }
}
