// What bench/referrals.ts and bench/delivery.ts say to their child processes (load generator, bare
// baseline) over the fork IPC channel, the clock they share, and the little statistics both sides use.
import type { ChildProcess } from 'node:child_process'
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** A pre-signed request body; routed ones (bench/delivery.ts) also carry what became of them. */
export interface Doc {
  body: string
  headers?: Record<string, string>
  referralId: string
  recipientId?: string
  due?: number
  end?: number
  status?: string
}

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
  /** Expected answers in the whole run, warm-up included: the work whose CPU a run's snapshots hold. */
  okTotal: number
  /** A few bodies of unexpected answers, to say what went wrong. */
  errorSamples: string[]
  /** Open loop: how late the generator fired, p99 and max (ms); large values mean it could not keep up. */
  lagP99: number
  lagMax: number
  maxInFlight: number
  /** Open loop: the slowest request due in each second of the measured window (ms), to place stalls. */
  slowestPerSecond?: number[]
  /** Length of the measured window (s); shorter than asked when the documents ran out. */
  windowSeconds: number
  exhausted: boolean
}

/** A sender of routed referrals (bench/delivery.ts): its key, and the `authorization` its POSTs carry. */
export interface RoutedSender {
  id: string
  signingJwk: unknown
  authorization: string
}

/** A pull recipient whose inbox the load generator long-polls (bench/delivery.ts). */
export interface PullRecipient {
  id: string
  authorization: string
}

/** What became of one routed referral (bench/delivery.ts); times are `toClock()` milliseconds. */
export interface DocReport {
  /** Status of its POST (or error code); undefined when it was never sent. */
  status?: string
  /** When its POST was due (open loop) and when the answer had been read. */
  due?: number
  end?: number
  /** Sent to a pull recipient (expected from a long-poll) or a push one (expected on the webhook). */
  pull: boolean
  /** First arrival through the expected channel, and how many arrivals there were in all. */
  at?: number
  copies: number
}

export type ToLoadgen =
  /** One sender to a country's national contact point (bench/referrals.ts). */
  | {
      id: number
      type: 'sign'
      count: number
      senderId: string
      signingJwk: unknown
      recipientCountry: string
    }
  /** Document i goes from senders[i % senders] to the agency recipientIds[i % recipientIds]. */
  | { id: number; type: 'sign'; count: number; senders: RoutedSender[]; recipientIds: string[] }
  | { id: number; type: 'run'; spec: RunSpec }
  /** Starts the loopback webhook receiver; answers { url }. */
  | { id: number; type: 'receiver' }
  /** Starts one long-poll loop per pull recipient. */
  | {
      id: number
      type: 'poll'
      host: string
      port: number
      recipients: PullRecipient[]
      confirm: 'sync' | 'async' | 'off'
    }
  /** Waits until every document of [from, to) answered 201 has arrived, or timeoutMs. */
  | { id: number; type: 'await'; from: number; to: number; timeoutMs: number }
  | { id: number; type: 'report'; from: number; to: number }
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

/**
 * A performance.now() reading of this process as milliseconds on a clock every process of a bench
 * reads alike: performance.now() counts from each process's own start, so times that leave the
 * process are sent as timeOrigin + now().
 */
export const toClock = (now: number) => performance.timeOrigin + now

/** Nearest-rank percentile of an ascending array. */
export const percentile = (sorted: number[], p: number) =>
  sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
