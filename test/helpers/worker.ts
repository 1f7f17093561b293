import { pino } from 'pino'
import type { Config } from '../../src/config.js'
import type { HubKeys } from '../../src/lib/hub-keys.js'
import { type RunningWorker, runWorker, type WorkerRunOptions } from '../../src/worker/run-worker.js'
import { LogCapture } from './build-app.js'

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
