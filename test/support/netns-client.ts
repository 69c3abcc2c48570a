/**
 * Runs inside a test's network namespace (see netns.ts): for each line {seq, host, port} on stdin
 * it connects, asks which node answers, and writes {seq, answer} or {seq, error} on stdout.
 */
import { createInterface } from 'node:readline';
import { whoAnswers } from './id-nodes.js';

createInterface({ input: process.stdin }).on('line', (line) => {
  const { seq, host, port } = JSON.parse(line) as { seq: number; host: string; port: number };
  whoAnswers(port, host, 1_000).then(
    (answer) => process.stdout.write(`${JSON.stringify({ seq, answer })}\n`),
    (error: Error) => process.stdout.write(`${JSON.stringify({ seq, error: error.message })}\n`),
  );
});
