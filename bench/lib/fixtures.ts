/**
 * The shardvoy configuration and nodes of the network scenarios (ingest, fan-out, memory, storm):
 * one group, `bench`, whose Envoys reach shard0 of database `default`.
 */
export const GROUP = 'bench';

export const NETWORK_CONFIG = {
  // Leases far longer than any scenario: no node expires (and no unplanned push happens) mid-measurement.
  registry: { leaseSeconds: 3_600 },
  // Every bench stream comes from 127.0.0.1, and a storm opens the new streams while the old ones
  // close: the per-peer and total stream limits (100 and 10,000 by default) are lifted far above
  // any scenario, as the floor and go-control-plane have none.
  xds: { maxStreamsPerPeer: 1_000_000, maxStreams: 1_000_000 },
  groups: [
    {
      name: GROUP,
      dc: 'dc1',
      database: 'default',
      shards: [{ name: 'shard0', listen: '127.0.0.1:10000', clusters: ['shard0-masters', 'shard0-replicas'], protocol: 'tcp' }],
    },
  ],
};

export interface HeartbeatBody {
  readonly id: string;
  readonly address: string;
  readonly database: string;
  readonly shard: string;
  readonly role: 'master' | 'replica';
  readonly dc?: string;
  readonly epoch?: number;
}

/** The master of generation `n` (epoch n): each new one fences the last and changes shard0-masters' EDS. */
export function masterOf(n: number): HeartbeatBody {
  return { id: `bench-master-${n}`, address: `10.9.${Math.floor(n / 250) % 250}.${(n % 250) + 1}:9000`, database: 'default', shard: 'shard0', role: 'master', dc: 'dc1', epoch: n };
}

/** A master and two replicas in two DCs: the state every stream subscribes to first. */
export function seedNodes(): HeartbeatBody[] {
  return [
    masterOf(1),
    { id: 'bench-replica-1', address: '10.8.0.1:9000', database: 'default', shard: 'shard0', role: 'replica', dc: 'dc1' },
    { id: 'bench-replica-2', address: '10.8.0.2:9000', database: 'default', shard: 'shard0', role: 'replica', dc: 'dc2' },
  ];
}
