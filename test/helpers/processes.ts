import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Config } from '../../src/config.js'
import { HubClient } from '../../src/sdk/hub-client.js'
import type { TestAgency } from './agencies.js'
import { REDIS_URL } from './env.js'
import { freePort } from './tcp-proxy.js'
import { eventually } from './webhook-receiver.js'

type Tap = { teardown: (fn: () => unknown) => void }

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** A hub entry point (`src/server.ts` or `src/worker.ts`) running as its own process, as deployed. */
export interface HubProcess {
  child: ChildProcess
  /** Everything it printed, stdout and stderr. */
  output(): string
  /** Resolves with its exit code (null when killed by a signal) and the signal, whenever it exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Starts an entry point on a test's schema and queue prefix; killed at teardown if still running. */
export function startHubProcess(
  t: Tap,
  entry: 'src/server.ts' | 'src/worker.ts',
  config: Config,
  env: Record<string, string> = {},
): HubProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: ROOT,
    env: {
      PATH: process.env['PATH'],
      DATABASE_URL: config.databaseUrl,
      DATABASE_SCHEMA: config.databaseSchema,
      REDIS_URL: config.redisUrl ?? REDIS_URL,
      QUEUE_PREFIX: config.queuePrefix,
      HUB_SIGNING_KEYS: config.hubKeys.json,
      WEBHOOK_ALLOW_LOOPBACK: 'true',
      LOG_LEVEL: 'info',
      // As in testConfig: a busy test machine stalls the event loop for seconds at a time.
      OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
      // Tests run side by side: a worker's metrics take a free port, not the default one.
      WORKER_METRICS_PORT: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk))
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return { child, output: () => output, exited }
}

/** The API as a process on `port`, answering /health/live, with its metrics on a free port of their own. */
export async function startApiProcess(
  t: Tap,
  config: Config,
  port: number,
  env: Record<string, string> = {},
): Promise<HubProcess & { url: string; metricsUrl: string }> {
  const url = `http://127.0.0.1:${port}`
  const metricsPort = await freePort()
  const api = startHubProcess(t, 'src/server.ts', config, {
    PORT: String(port),
    PUBLIC_URL: url,
    METRICS_PORT: String(metricsPort),
    ...env,
  })
  await eventually(
    async () => {
      if (api.child.exitCode !== null) throw new Error(`the API exited early:\n${api.output()}`)
      return fetch(`${url}/health/live`).then(
        (r) => r.ok,
        () => false,
      )
    },
    'the API process to listen',
    60_000,
    100,
  )
  return { ...api, url, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` }
}

/** A client of a test agency for a hub reached over real HTTP. */
export const clientAt = (url: string, agency: TestAgency) =>
  new HubClient({ baseUrl: url, agencyId: agency.id, signingKey: agency.keys.signing })
