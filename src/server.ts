import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { ConfigError, loadConfig } from './config.js'

try {
  const config = loadConfig()
  const app = await buildApp(config)
  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'closing after error')
    else app.log.info({ signal }, 'closing')
    await app.close()
  })
  await app.listen({ host: config.host, port: config.port })
} catch (error) {
  process.stderr.write(`trm-hub: ${error instanceof ConfigError ? error.message : String(error)}\n`)
  process.exit(1)
}
