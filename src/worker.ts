import closeWithGrace from 'close-with-grace'
import { pino } from 'pino'
import { ConfigError, loadConfig } from './config.js'
import { loadHubKeys } from './lib/hub-keys.js'
import { redact } from './lib/logging.js'
import { listenMetrics, type MetricsListener } from './lib/metrics-listener.js'
import { runWorker } from './worker/run-worker.js'
import { createWorkerMetrics } from './worker/worker-metrics.js'

try {
  const config = loadConfig()
  const log = pino({
    level: config.logLevel,
    name: 'trm-worker',
    redact,
    ...(config.logPretty ? { transport: { target: 'pino-pretty', options: { colorize: true } } } : {}),
  })
  const hubKeys = await loadHubKeys(config.hubKeys)
  const metrics = createWorkerMetrics()
  let listener: MetricsListener | undefined
  let worker: ReturnType<typeof runWorker> | undefined
  // Signals are handled from here on: a SIGTERM while the worker starts waits for the start, then
  // closes what it started (without a handler, Node would end the process at once, mid-start).
  closeWithGrace({ delay: 30_000 }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'closing after error')
    else log.info({ signal }, 'closing')
    await listener?.close()
    await (await worker)?.close()
  })
  // Metrics first, as in src/server.ts: an address already taken stops start-up before any job runs.
  if (config.metrics.workerPort !== undefined) {
    listener = await listenMetrics(
      () => metrics.scrape(),
      { host: config.metrics.host, port: config.metrics.workerPort },
      (err) => log.error({ err }, 'metrics scrape failed'),
    )
    log.info({ url: listener.url }, 'metrics listening')
  }
  worker = runWorker(config, hubKeys, log, { metrics })
  await worker
} catch (error) {
  process.stderr.write(`trm-worker: ${error instanceof ConfigError ? error.message : String(error)}\n`)
  process.exit(1)
}
