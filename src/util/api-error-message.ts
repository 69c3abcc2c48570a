/**
 * The message of an HTTP API error as a client shows it (the agent, the operator CLI): the API's
 * errors are `{"statusCode", "error", "message"}`; anything else is shown as it came, through the
 * caller's own cut.
 */
export function apiErrorMessage(text: string, excerpt: (text: string) => string): string {
  try {
    const body = JSON.parse(text) as { message?: unknown; error?: unknown };
    if (typeof body.message === 'string') return excerpt(body.message);
    if (typeof body.error === 'string') return excerpt(body.error);
  } catch {
    // Not JSON: a proxy's page, say.
  }
  return excerpt(text.trim()) || '(no message)';
}
