/**
 * One `POST /v1/heartbeat` (contract 4.1) and what became of it: an answer (checked against the
 * API's own response schema), a refusal (4xx, with the server's message), or a failure (5xx, no
 * connection, no answer in time, an answer that is not one).
 */
import { Ajv } from 'ajv';
import { HeartbeatResponse, type HeartbeatBody } from '../sources/http/schemas.js';
import { describeErrors } from '../sources/http/validation-errors.js';
import { USER_AGENT_PREFIX } from '../sources/heartbeat-outcome.js';
import { VERSION } from '../version.js';
import { describeFetchError } from './node-query.js';
import { apiErrorMessage } from '../util/api-error-message.js';

export type SendOutcome =
  | { readonly kind: 'answered'; readonly answer: HeartbeatResponse }
  | { readonly kind: 'refused'; readonly statusCode: number; readonly message: string }
  | { readonly kind: 'failed'; readonly reason: string };

export type SendHeartbeat = (url: URL, body: HeartbeatBody, token: string | undefined, timeoutMs: number) => Promise<SendOutcome>;

const validAnswer = new Ajv({ allErrors: true, verbose: true }).compile<HeartbeatResponse>(HeartbeatResponse);

export const postHeartbeat: SendHeartbeat = async (url, body, token, timeoutMs) => {
  // The server counts the agent's heartbeats apart (metric source="agent").
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': `${USER_AGENT_PREFIX}/${VERSION}` };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  let status: number;
  let text: string;
  try {
    const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(Math.ceil(timeoutMs)) });
    status = response.status;
    text = await response.text();
  } catch (error) {
    return { kind: 'failed', reason: describeFetchError(error, timeoutMs) };
  }
  if (status >= 200 && status < 300) {
    let answer: unknown;
    try {
      answer = JSON.parse(text);
    } catch {
      return { kind: 'failed', reason: `HTTP ${status} with a body that is not JSON: ${excerpt(text)}` };
    }
    if (!validAnswer(answer)) return { kind: 'failed', reason: `HTTP ${status} but not a heartbeat answer: ${describeErrors('answer', validAnswer.errors ?? [])}` };
    return { kind: 'answered', answer };
  }
  const message = apiErrorMessage(text, excerpt);
  if (status >= 400 && status < 500) return { kind: 'refused', statusCode: status, message };
  return { kind: 'failed', reason: `HTTP ${status}: ${message}` };
};

function excerpt(text: string): string {
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}
