/**
 * What the node looks like now, as a heartbeat: `active` while its probe passes (and, with
 * --role-from, its role can be read), `inactive` otherwise; role and epoch from --role-from when
 * the node says them, else from the flags. Changes are logged once, when they happen.
 */
import type { Logger } from 'pino';
import type { HeartbeatBody } from '../sources/http/schemas.js';
import type { AgentOptions } from './flags.js';
import type { Probe } from './probe.js';
import type { NodeRole, RoleReader } from './role-from.js';

export class NodeObserver {
  private probeFailure: string | undefined | null = null; // null: not probed yet
  private roleFailure: string | undefined | null = null;
  private role: NodeRole;

  constructor(
    private readonly node: AgentOptions['node'],
    private readonly probe: Probe,
    private readonly roleReader: RoleReader | undefined,
    private readonly logger: Logger,
  ) {
    this.role = { role: node.role, epoch: node.epoch };
  }

  async observe(timeoutMs: number): Promise<HeartbeatBody> {
    const [probed, read] = await Promise.all([this.probe(timeoutMs), this.roleReader?.(timeoutMs)]);
    const probeFailure = probed.ok ? undefined : probed.reason;
    if (probeFailure !== this.probeFailure) {
      if (probeFailure === undefined) this.logger.info('probe passed: the node is active');
      else this.logger.warn({ reason: probeFailure }, `probe failed: ${probeFailure}; the node is inactive`);
      this.probeFailure = probeFailure;
    }
    if (read !== undefined) {
      const roleFailure = read.ok ? undefined : read.reason;
      if (read.ok && (read.value.role !== this.role.role || read.value.epoch !== this.role.epoch || this.roleFailure === null)) {
        this.logger.info({ role: read.value.role, epoch: read.value.epoch }, `the node says it is ${read.value.role}${read.value.epoch === undefined ? '' : ` at epoch ${read.value.epoch}`}`);
      }
      if (read.ok) this.role = read.value;
      else if (roleFailure !== this.roleFailure) {
        this.logger.warn({ reason: roleFailure }, `cannot read the node's role: ${roleFailure}; the node is inactive until it can be read`);
      }
      this.roleFailure = roleFailure;
    }
    const active = probeFailure === undefined && (read === undefined || read.ok);
    const epoch = this.role.epoch ?? this.node.epoch;
    return {
      id: this.node.id,
      address: this.node.address,
      database: this.node.database,
      shard: this.node.shard,
      role: this.role.role,
      status: active ? 'active' : 'inactive',
      ...(this.node.dc === undefined ? {} : { dc: this.node.dc }),
      ...(epoch === undefined ? {} : { epoch }),
      ...(this.node.labels === undefined ? {} : { labels: this.node.labels }),
    };
  }
}
