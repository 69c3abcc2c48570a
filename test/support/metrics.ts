/** Reading shardvoy's Prometheus exposition (GET /metrics) in tests. */

/** The value of one sample, `name` with its labels as exposed (`x_total{op="txn"}`); undefined if absent. */
export function metricSample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/** GET /metrics of `baseUrl` and one sample of it; throws when the sample is not there. */
export async function scrapeMetric(baseUrl: string, name: string): Promise<number> {
  const value = metricSample(await (await fetch(`${baseUrl}/metrics`)).text(), name);
  if (value === undefined) throw new Error(`GET ${baseUrl}/metrics has no sample ${name}`);
  return value;
}
