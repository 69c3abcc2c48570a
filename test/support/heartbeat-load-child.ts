/** The child of HeartbeatLoadProcess: runs a HeartbeatLoad and answers figure requests over IPC. */
import { HeartbeatLoad } from './heartbeat-load.js';

const [baseUrl, bodies, interval] = process.argv.slice(2);
const load = new HeartbeatLoad(baseUrl!, JSON.parse(bodies!), Number(interval));
process.on('message', (message: { id: number; sinceMs: number }) => process.send!({ id: message.id, figures: load.figures(message.sinceMs) }));
process.on('disconnect', () => {
  load.stop();
  process.exit(0);
});
