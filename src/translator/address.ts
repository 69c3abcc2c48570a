export function socketAddress(host: string, port: number): Record<string, unknown> {
  return { socket_address: { address: host, port_value: port } };
}
