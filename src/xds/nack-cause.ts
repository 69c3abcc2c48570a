/**
 * Whether a NACK's error says the cause lies on the client's host rather than in the resources:
 * Envoy could not bind a listener because the port is taken, the address is not on the host, or
 * binding is not permitted. The same resources may succeed once the host is fixed, so they are
 * worth sending again (nack-retry.ts); any other rejection would only be repeated.
 */
const HOST_CAUSES: readonly RegExp[] = [
  /address already in use/i,
  /EADDRINUSE/,
  /cannot assign requested address/i,
  /EADDRNOTAVAIL/,
  /permission denied/i,
  /EACCES/,
  /cannot bind/i,
];

export function causeOnClientHost(message: string): boolean {
  return HOST_CAUSES.some((cause) => cause.test(message));
}
