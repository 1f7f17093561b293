// What bench/referrals.ts and its two child processes (load generator, bare baseline) say to each
// other over the fork IPC channel, and the little statistics both sides share.
import type { ChildProcess } from 'node:child_process'
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** One timed run of the load generator against one server. */
export interface RunSpec {
  label: string
  host: string
  port: number
  path: string
  headers: Record<string, string>
  /** open: constant arrival rate, latency from the scheduled send time; closed: `concurrency` loops. */
  mode: 'open' | 'closed'
  rate: number
  warmupSeconds: number
  seconds: number
  concurrency: number
  /** Which pre-signed documents to send: [from, to). Each is sent at most once per run. */
  from: number
  to: number
  expectStatus: number
  /** A request unanswered this long after it was due counts as an error (TIMEOUT) and is abandoned. */
  timeoutMs: number
}

export interface RunResult {
  label: string
  mode: 'open' | 'closed'
  /** Latencies (ms) of the requests in the measured window, expected status or not. */
  latencies: number[]
  /** Status (or error code) counts in the measured window. */
  statuses: Record<string, number>
  /** Non-expected answers during the warm-up (not in the figures, reported anyway). */
  warmupErrors: number
  /** A few bodies of unexpected answers, to say what went wrong. */
  errorSamples: string[]
  /** Open loop: how late the generator fired, p99 and max (ms); large values mean it could not keep up. */
  lagP99: number
  lagMax: number
  maxInFlight: number
  /** Length of the measured window (s); shorter than asked when the documents ran out. */
  windowSeconds: number
  exhausted: boolean
}

export type ToLoadgen =
  | {
      id: number
      type: 'sign'
      count: number
      senderId: string
      signingJwk: unknown
      recipientCountry: string
    }
  | { id: number; type: 'run'; spec: RunSpec }
  | { id: number; type: 'exit' }

export type ToBaseline =
  | {
      id: number
      type: 'start'
      databaseUrl: string
      schema: string
      applicationName: string
      poolMax: number
      publicJwk: unknown
    }
  | { id: number; type: 'stop' }

export type Reply =
  | { id: number; type: 'ok'; value: unknown }
  | { id: number; type: 'error'; message: string }

/** Forks a TypeScript module with the same loader (tsx) as this process. */
export function forkRole(relativeToThisDir: string): ChildProcess {
  const path = fileURLToPath(new URL(relativeToThisDir, import.meta.url))
  return fork(path, [], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
}

/** Request/reply over a child's IPC channel: one pending call per id. */
export function rpc(child: ChildProcess) {
  let nextId = 1
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  child.on('message', (message: Reply) => {
    const waiter = pending.get(message.id)
    if (!waiter) return
    pending.delete(message.id)
    if (message.type === 'ok') waiter.resolve(message.value)
    else waiter.reject(new Error(message.message))
  })
  child.on('exit', (code) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`child exited with ${code}`))
    pending.clear()
  })
  return <T>(message: Record<string, unknown>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
      child.send({ ...message, id })
    })
}

/** Serves request/reply messages in a child process. */
export function serve<M extends { id: number; type: string }>(handler: (message: M) => Promise<unknown>) {
  process.on('message', (message: M) => {
    handler(message).then(
      (value) => process.send?.({ id: message.id, type: 'ok', value }),
      (error: unknown) =>
        process.send?.({ id: message.id, type: 'error', message: String((error as Error)?.stack ?? error) }),
    )
  })
  // The parent going away (Ctrl-C, crash) must not leave a child behind.
  process.on('disconnect', () => process.exit(0))
}

/** Nearest-rank percentile of an ascending array. */
export const percentile = (sorted: number[], p: number) =>
  sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
