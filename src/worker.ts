import closeWithGrace from 'close-with-grace'
import { pino } from 'pino'
import { ConfigError, loadConfig } from './config.js'
import { loadHubKeys } from './lib/hub-keys.js'
import { redact } from './lib/logging.js'
import { runWorker } from './worker/run-worker.js'

try {
  const config = loadConfig()
  const log = pino({
    level: config.logLevel,
    name: 'trm-worker',
    redact,
    ...(config.logPretty ? { transport: { target: 'pino-pretty', options: { colorize: true } } } : {}),
  })
  const worker = await runWorker(config, await loadHubKeys(config.hubKeys), log)
  closeWithGrace({ delay: 30_000 }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'closing after error')
    else log.info({ signal }, 'closing')
    await worker.close()
  })
} catch (error) {
  process.stderr.write(`trm-worker: ${error instanceof ConfigError ? error.message : String(error)}\n`)
  process.exit(1)
}
