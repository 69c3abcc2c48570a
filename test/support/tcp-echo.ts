/** A client of the README's echo servers: sends bytes through a port and reads them back. */
import net from 'node:net';

export function echoThrough(port: number, text: string, host = '127.0.0.1', timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host }, () => socket.write(text));
    let received = '';
    const timer = setTimeout(() => finish(new Error(`no echo of "${text}" through ${host}:${port} within ${timeoutMs} ms (got "${received}")`)), timeoutMs);
    const finish = (error?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(received);
    };
    socket.on('data', (chunk) => {
      received += chunk.toString();
      if (received.length >= text.length) finish();
    });
    socket.on('error', (error) => finish(error));
    socket.on('close', () => finish(new Error(`connection through ${host}:${port} closed after "${received}"`)));
  });
}

/** Resolves once host:port accepts connections (`accepting`) or refuses them (`refusing`). */
export async function waitUntilPort(state: 'accepting' | 'refusing', port: number, host = '127.0.0.1', timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ port, host }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (accepted === (state === 'accepting')) return;
    if (Date.now() > deadline) throw new Error(`${host}:${port} is not ${state} connections after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
