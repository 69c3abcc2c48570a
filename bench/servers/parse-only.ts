/**
 * The ingest floor: Fastify with one POST route that only parses the JSON body (Fastify's own
 * parser, no schema) and answers `{}`. Whatever shardvoy's heartbeat route costs beyond this is
 * its own: validation, the registry, the answer.
 */
import Fastify from 'fastify';
import { serveParent } from '../lib/ipc.js';
import { processStatsMonitor, type StatsRequest } from '../lib/process-stats.js';

const stats = processStatsMonitor();
const app = Fastify({ logger: false });
app.post('/v1/heartbeat', async () => ({}));
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
const port = typeof address === 'object' && address ? address.port : 0;

serveParent({ stats: (request: StatsRequest) => stats(request) }, { http: `http://127.0.0.1:${port}` }, () => app.close());
