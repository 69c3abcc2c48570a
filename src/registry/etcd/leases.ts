/**
 * Node leases. A heartbeat that changes nothing renews its node's lease and writes nothing: etcd
 * handles keep-alives on its leader without a raft entry, so thousands of renewals a second cost
 * no consensus. All renewals of an instance share one LeaseKeepAlive stream (etcd3's Lease object
 * keeps one stream per lease and renews on its own timer, which is not what a heartbeat is).
 */
import type { Etcd3, IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3';

type KeepAliveStream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;

export class LeaseKeeper {
  private stream: KeepAliveStream | undefined;
  private opening: Promise<KeepAliveStream> | undefined;
  /** Lease id -> renewals waiting for etcd's answer, oldest first. */
  private readonly pending = new Map<string, Array<{ resolve: (ttl: number) => void; reject: (error: Error) => void }>>();

  constructor(
    private readonly client: Etcd3,
    private readonly ttlSeconds: number,
    private readonly timeoutMs = 3000,
  ) {}

  /** A new lease of the node TTL. */
  async grant(): Promise<string> {
    const granted = await this.client.leaseClient.leaseGrant({ TTL: this.ttlSeconds }, { deadline: new Date(Date.now() + this.timeoutMs) });
    if (granted.error) throw new Error(`etcd refused a lease: ${granted.error}`);
    return String(granted.ID);
  }

  /** Renews a lease; resolves with its remaining TTL in seconds, 0 or less when it is gone. */
  async renew(lease: string): Promise<number> {
    const stream = await this.open();
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        const error = new Error(`etcd did not answer a lease renewal within ${this.timeoutMs} ms`);
        settle(undefined, error);
        // A stream to a member that stopped answering (SIGSTOP, a cut network) stays open until
        // gRPC's keepalive gives up, many seconds on: every renewal on it would wait and fail
        // meanwhile. Drop it; the next renewal opens another, on a member the pool picks again.
        if (this.stream === stream) this.fail(error);
      }, this.timeoutMs);
      const waiter = { resolve: (ttl: number) => settle(ttl), reject: (error: Error) => settle(undefined, error) };
      const settle = (ttl: number | undefined, error?: Error) => {
        clearTimeout(timer);
        const queue = this.pending.get(lease);
        const at = queue?.indexOf(waiter) ?? -1;
        if (at >= 0) queue!.splice(at, 1);
        if (queue?.length === 0) this.pending.delete(lease);
        if (error) reject(error);
        else resolve(ttl!);
      };
      const queue = this.pending.get(lease) ?? [];
      queue.push(waiter);
      this.pending.set(lease, queue);
      stream.write({ ID: lease });
    });
  }

  /** Best effort: a lease no key uses any more. */
  revoke(lease: string): void {
    this.client.leaseClient.leaseRevoke({ ID: lease }, { deadline: new Date(Date.now() + this.timeoutMs) }).catch(() => undefined);
  }

  close(): void {
    this.fail(new Error('closed'));
  }

  private open(): Promise<KeepAliveStream> {
    if (this.stream) return Promise.resolve(this.stream);
    this.opening ??= this.client.leaseClient
      .leaseKeepAlive()
      .then((stream) => {
        stream.on('data', (answer: ILeaseKeepAliveResponse) => this.pending.get(String(answer.ID))?.[0]?.resolve(Number(answer.TTL)));
        const lost = (error?: Error) => {
          if (this.stream === stream) this.fail(error ?? new Error('the etcd lease stream ended'));
        };
        stream.on('error', lost);
        stream.on('end', () => lost());
        this.stream = stream;
        return stream;
      })
      .finally(() => (this.opening = undefined));
    return this.opening;
  }

  private fail(error: Error): void {
    const stream = this.stream;
    this.stream = undefined;
    stream?.cancel();
    for (const queue of [...this.pending.values()]) for (const waiter of [...queue]) waiter.reject(error);
    this.pending.clear();
  }
}
