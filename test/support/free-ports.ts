/**
 * Ports for listeners a configuration must name up front (Envoy's listeners, node-listener
 * ranges): a run of consecutive ports that nothing on this machine listens on right now, picked
 * at random from a range the kernel does not hand out as ephemeral ports, so parallel suites
 * rarely collide.
 */
import net from 'node:net';

const LOW = 20_000;
const HIGH = 30_000;

export async function freePortRun(count: number, host = '0.0.0.0'): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const base = LOW + Math.floor(Math.random() * (HIGH - LOW - count));
    let free = true;
    for (let port = base; port < base + count && free; port++) free = await canBind(port, host);
    if (free) return base;
  }
  throw new Error(`no run of ${count} free ports found in ${LOW}-${HIGH}`);
}

function canBind(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}
