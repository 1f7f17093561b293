import { pino } from 'pino'
import type { Config } from '../../src/config.js'
import type { HubKeys } from '../../src/lib/hub-keys.js'
import { type RunningWorker, runWorker, type WorkerRunOptions } from '../../src/worker/run-worker.js'
import { LogCapture } from './build-app.js'
import { DATABASE_URL, REDIS_URL } from './env.js'

type Tap = { teardown: (fn: () => unknown) => void }

/** The worker (outbox relay and BullMQ workers) in this process, against the test app's schema and prefix. */
export async function startTestWorker(
  t: Tap,
  config: Config,
  hubKeys: HubKeys,
  options: WorkerRunOptions = {},
): Promise<RunningWorker & { logs: LogCapture }> {
  const logs = new LogCapture()
  const worker = await runWorker(config, hubKeys, pino({ level: 'info' }, logs), options)
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await worker.close()
  }
  t.teardown(close)
  return { ...worker, close, logs }
}

/** The environment of a real worker process (`src/worker.ts`) on a test's schema and queue prefix. */
export function workerProcessEnv(
  config: Config,
  logLevel: 'info' | 'warn',
): Record<string, string | undefined> {
  return {
    PATH: process.env['PATH'],
    DATABASE_URL,
    DATABASE_SCHEMA: config.databaseSchema,
    REDIS_URL,
    QUEUE_PREFIX: config.queuePrefix,
    HUB_SIGNING_KEYS: config.hubKeys.json,
    WEBHOOK_ALLOW_LOOPBACK: 'true',
    LOG_LEVEL: logLevel,
    // Tests run side by side: a worker's metrics take a free port, not the default one.
    WORKER_METRICS_PORT: '0',
  }
}
