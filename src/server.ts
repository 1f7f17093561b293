import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { ConfigError, loadConfig } from './config.js'
import { listenMetrics, type MetricsListener } from './lib/metrics-listener.js'

try {
  const config = loadConfig()
  const app = await buildApp(config)
  let metrics: MetricsListener | undefined
  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'closing after error')
    else app.log.info({ signal }, 'closing')
    await metrics?.close()
    await app.close()
  })
  // Metrics first: an address already taken stops start-up before the API takes any traffic.
  if (config.metrics.port !== undefined) {
    metrics = await listenMetrics(
      () => app.metrics(),
      { host: config.metrics.host, port: config.metrics.port },
      (err) => app.log.error({ err }, 'metrics scrape failed'),
    )
    app.log.info({ url: metrics.url }, 'metrics listening')
  }
  await app.listen({ host: config.host, port: config.port })
} catch (error) {
  process.stderr.write(`trm-hub: ${error instanceof ConfigError ? error.message : String(error)}\n`)
  process.exit(1)
}
