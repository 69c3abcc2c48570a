/**
 * A Kafka client (kafkajs) for the Kafka end-to-end suite, run inside the test's network
 * namespace (see kafka-client.ts): it bootstraps at the address given as argv[2] (Envoy's
 * bootstrap listener) and reaches each broker only at what the brokers advertise. For each line
 * {seq, op, ...} on stdin it does op and writes {seq, result} or {seq, error} on stdout.
 *
 * Messages carry their sequence number as value (keys "key-<n % 100>"), so the test can tell
 * which acknowledged messages the log holds, and how often.
 */
import { createInterface } from 'node:readline';
import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';

const bootstrap = process.argv[2]!;
const kafka = new Kafka({
  clientId: 'shardvoy-e2e',
  brokers: [bootstrap],
  logLevel: logLevel.NOTHING,
  connectionTimeout: 3_000,
  requestTimeout: 10_000,
  // A broker killed: its leaders move within a few seconds; keep retrying through that.
  retry: { initialRetryTime: 100, maxRetryTime: 1_000, retries: 40 },
});

let admin: Admin | undefined;
const getAdmin = async () => {
  if (!admin) {
    admin = kafka.admin();
    await admin.connect();
  }
  return admin;
};

interface Production {
  readonly acked: number[];
  readonly failed: number[];
  readonly errors: string[];
  /** Sent in a send() that resolved without an acknowledgement for their partition. */
  readonly unconfirmed: number[];
  /** How often a new producer took over. */
  renewed: number;
  stop: boolean;
  done: Promise<void>;
  producer: Producer;
}
const productions = new Map<string, Production>();

/**
 * Sends [from, from+count) in batches, one batch in flight (idempotent, acks=all). Message n has
 * key "key-<n % 100>" and goes to partition (n % 100) % partitions, so that its partition is
 * known: it counts as acknowledged only when the answer acknowledges that partition. (kafkajs's
 * send() can resolve without the partitions of a broker whose connection died while the request
 * was in flight; those messages were not acknowledged by Kafka and are counted as unconfirmed.
 * After that, or a send that failed, a new producer goes on.)
 */
async function startProducing(args: { name: string; topic: string; partitions: number; from: number; count: number; batch: number; pauseMs?: number }): Promise<void> {
  const connect = async () => {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    await producer.connect();
    return producer;
  };
  const production: Production = { acked: [], failed: [], unconfirmed: [], errors: [], renewed: 0, stop: false, done: Promise.resolve(), producer: await connect() };
  const partitionOf = (n: number) => (n % 100) % args.partitions;
  production.done = (async () => {
    for (let at = args.from; at < args.from + args.count && !production.stop; at += args.batch) {
      const seqs = Array.from({ length: Math.min(args.batch, args.from + args.count - at) }, (_, i) => at + i);
      let renew = false;
      try {
        const answer = await production.producer.send({ topic: args.topic, acks: -1, timeout: 10_000, messages: seqs.map((n) => ({ key: `key-${n % 100}`, value: String(n), partition: partitionOf(n) })) });
        const acknowledged = new Set(answer.filter((r) => r.errorCode === 0 && r.topicName === args.topic).map((r) => r.partition));
        for (const n of seqs) (acknowledged.has(partitionOf(n)) ? production.acked : production.unconfirmed).push(n);
        renew = seqs.some((n) => !acknowledged.has(partitionOf(n)));
      } catch (error) {
        production.failed.push(...seqs);
        if (production.errors.length < 20) production.errors.push((error as Error).message);
        renew = true;
      }
      // What kafkajs's idempotent producer got wrong it does not recover from (its sequence numbers
      // ran ahead of the broker's): go on with a new producer (a new producer id), as an
      // application would.
      if (renew) {
        await production.producer.disconnect().catch(() => undefined);
        production.producer = await connect();
        production.renewed += 1;
      }
      if (args.pauseMs) await new Promise((resolve) => setTimeout(resolve, args.pauseMs));
    }
  })();
  productions.set(args.name, production);
}

async function producing(args: { name: string; stop?: boolean }) {
  const production = productions.get(args.name)!;
  if (args.stop) {
    production.stop = true;
    await production.done;
  }
  return { acked: production.acked.length, failed: production.failed.length, unconfirmed: production.unconfirmed.length, renewed: production.renewed, errors: production.errors.slice(0, 5) };
}

async function finishProducing(args: { name: string }) {
  const production = productions.get(args.name)!;
  await production.done;
  await production.producer.disconnect();
  productions.delete(args.name);
  return { acked: production.acked, failed: production.failed, unconfirmed: production.unconfirmed, renewed: production.renewed, errors: production.errors.slice(0, 5) };
}

/**
 * Reads the whole topic with a fresh consumer group, up to the high watermarks as they are when
 * it starts; returns each message's value with its partition and offset.
 */
async function consumeAll(args: { topic: string; groupId: string; timeoutMs: number }) {
  const offsets = await (await getAdmin()).fetchTopicOffsets(args.topic);
  const remaining = new Map(offsets.filter((o) => Number(o.high) > Number(o.low)).map((o) => [o.partition, Number(o.high)]));
  const consumer = kafka.consumer({ groupId: args.groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000, maxWaitTimeInMs: 200 });
  await consumer.connect();
  await consumer.subscribe({ topic: args.topic, fromBeginning: true });
  const seen = new Map<string, number>(); // "partition/offset" -> value
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`consumed ${seen.size} messages in ${args.timeoutMs} ms; partitions left: ${[...remaining.keys()]}`)), args.timeoutMs);
      if (remaining.size === 0) {
        clearTimeout(timer);
        resolve();
        return;
      }
      void consumer
        .run({
          eachBatch: async ({ batch }) => {
            for (const message of batch.messages) {
              seen.set(`${batch.partition}/${message.offset}`, Number(message.value!.toString()));
              const high = remaining.get(batch.partition);
              if (high !== undefined && Number(message.offset) >= high - 1) remaining.delete(batch.partition);
            }
            if (remaining.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  const total = offsets.reduce((sum, o) => sum + Number(o.high) - Number(o.low), 0);
  return { values: [...seen.values()], logSize: total, where: Object.fromEntries([...seen].map(([at, v]) => [v, at])), offsets };
}

async function metadata(args: { topic: string }) {
  const result = await (await getAdmin()).fetchTopicMetadata({ topics: [args.topic] });
  return result.topics[0]!.partitions.map((p) => ({ partition: p.partitionId, leader: p.leader, isr: p.isr, replicas: p.replicas }));
}

const ops: Record<string, (args: any) => Promise<unknown>> = {
  brokers: async () => (await (await getAdmin()).describeCluster()).brokers,
  createTopic: async (args: { topic: string; partitions?: number; replicationFactor?: number; replicaAssignment?: Array<{ partition: number; replicas: number[] }> }) =>
    (await getAdmin()).createTopics({
      waitForLeaders: true,
      topics: [
        args.replicaAssignment
          ? { topic: args.topic, replicaAssignment: args.replicaAssignment, configEntries: [{ name: 'min.insync.replicas', value: '2' }] }
          : { topic: args.topic, numPartitions: args.partitions!, replicationFactor: args.replicationFactor!, configEntries: [{ name: 'min.insync.replicas', value: '2' }] },
      ],
    }),
  metadata,
  startProducing,
  producing,
  finishProducing,
  consumeAll,
};

createInterface({ input: process.stdin })
  .on('line', (line) => {
    const { seq, op, ...args } = JSON.parse(line) as { seq: number; op: string };
    const run = ops[op];
    (run ? run(args) : Promise.reject(new Error(`no op ${op}`))).then(
      (result) => process.stdout.write(`${JSON.stringify({ seq, result: result ?? null })}\n`),
      (error: Error) => process.stdout.write(`${JSON.stringify({ seq, error: error.message })}\n`),
    );
  })
  .on('close', () => {
    void (async () => {
      for (const production of productions.values()) {
        production.stop = true;
        await production.done.catch(() => undefined);
        await production.producer.disconnect().catch(() => undefined);
      }
      await admin?.disconnect().catch(() => undefined);
      process.exit(0);
    })();
  });
process.stdout.write(`${JSON.stringify({ seq: 0, result: 'ready' })}\n`);
