import { collectDefaultMetrics, Registry } from 'prom-client'
import type { MetricsScrape } from './metrics-listener.js'

/**
 * prom-client's gauges that end in `_total`, which Prometheus keeps for counters (`promtool check
 * metrics` refuses them). Each is the sum of a family that stays: `nodejs_active_handles` and the others
 * by type, so `sum(nodejs_active_handles)` gives the same figure.
 */
const MISNAMED = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
]

let registry: Registry | undefined

/**
 * The process and runtime metrics of this process (prom-client's defaults: CPU, memory, file
 * descriptors, event loop lag, heap spaces, GC, Node version), in one registry per process: every
 * app or worker built in it shares them, and the observers behind them (event loop delay, GC) are
 * started once.
 */
export function processMetrics(): Registry {
  if (!registry) {
    registry = new Registry()
    collectDefaultMetrics({ register: registry })
    for (const name of MISNAMED) registry.removeSingleMetric(name)
  }
  return registry
}

/** One scrape of this process's metrics and of the given registries, in the Prometheus text format. */
export async function scrapeWithProcessMetrics(...registries: Registry[]): Promise<MetricsScrape> {
  const own = processMetrics()
  const bodies = await Promise.all([own, ...registries].map((r) => r.metrics()))
  return { contentType: own.contentType, body: bodies.join('\n') }
}
