// The faults of bench/drills.ts, one after another, `spacingMs` apart (a fault that is still going on
// when the next is due delays it): Redis killed (kill -9) and started again on the same port, one API
// process and one worker process killed (kill -9) and started again, Postgres stopped with
// `pg_ctl stop -m immediate` and started again. While Postgres is away, and until each API answers
// 200 again, both APIs' GET /health/ready is read every 250 ms.
import { get, type HubProcess } from './hub-processes.js'
import type { PrivatePostgres, PrivateRedis } from './private-services.js'

export const FAULTS = ['redis', 'api', 'worker', 'postgres'] as const
export type FaultName = (typeof FAULTS)[number]

/** One answer of GET /health/ready: `status` 0 when there was no HTTP answer (`summary` says why). */
export interface ReadyPoll {
  api: number
  at: number
  status: number
  summary: string
}

/** Times are performance.now() of the drill process. */
export interface FaultRecord {
  name: FaultName
  what: string
  at: number
  /** When what was taken away was back: restarted (and, for an API, live; for Postgres, accepting). */
  back: number
  /** Postgres: pg_ctl stop returned, pg_ctl start was run; `back` is when pg_ctl start -w returned. */
  postgres?: { stoppedAt: number; startAt: number; ready: ReadyPoll[] }
}

export interface FaultContext {
  t0: number
  spacingMs: number
  restartAfterMs: number
  pgStopMs: number
  postgres: PrivatePostgres
  redis: PrivateRedis
  api: HubProcess
  worker: HubProcess
  apiPorts: number[]
  log: (text: string) => void
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))

export async function runFaults(names: readonly FaultName[], context: FaultContext): Promise<FaultRecord[]> {
  const records: FaultRecord[] = []
  for (const [k, name] of names.entries()) {
    await sleep(context.t0 + (k + 1) * context.spacingMs - performance.now())
    records.push(await FAULT[name](context))
  }
  return records
}

const FAULT: Record<FaultName, (c: FaultContext) => Promise<FaultRecord>> = {
  async redis(c) {
    const at = performance.now()
    c.log('fault: kill -9 redis')
    await c.redis.kill9()
    await sleep(c.restartAfterMs)
    await c.redis.start()
    c.log('redis restarted on the same port')
    return { name: 'redis', what: 'kill -9 Redis, restarted on the same port', at, back: performance.now() }
  },

  async api(c) {
    const at = performance.now()
    c.log(`fault: kill -9 ${c.api.name} (pid ${c.api.pid})`)
    await c.api.kill9()
    await sleep(c.restartAfterMs)
    c.api.start()
    const live = await c.api.waitLive()
    c.log(`${c.api.name} restarted${live ? ' and live' : ', NOT live after 30 s'}`)
    return { name: 'api', what: `kill -9 ${c.api.name}, restarted`, at, back: performance.now() }
  },

  async worker(c) {
    const at = performance.now()
    c.log(`fault: kill -9 ${c.worker.name} (pid ${c.worker.pid})`)
    await c.worker.kill9()
    await sleep(c.restartAfterMs)
    c.worker.start()
    c.log(`${c.worker.name} restarted`)
    return { name: 'worker', what: `kill -9 ${c.worker.name}, restarted`, at, back: performance.now() }
  },

  async postgres(c) {
    const ready: ReadyPoll[] = []
    let startedAt = Number.POSITIVE_INFINITY
    const readyAgain = new Set<number>()
    let polling = true
    const poll = async (api: number) => {
      while (polling) {
        const asked = performance.now()
        const answer = await get(c.apiPorts[api]!, '/health/ready', 2000)
        const at = performance.now()
        ready.push({ api, at, status: answer.status, summary: summarise(answer.status, answer.body) })
        if (answer.status === 200 && asked >= startedAt) readyAgain.add(api)
        await sleep(250 - (at - asked))
      }
    }
    const pollers = c.apiPorts.map((_, api) => poll(api))
    const at = performance.now()
    c.log(`fault: pg_ctl stop -m immediate for ${c.pgStopMs / 1000} s`)
    await c.postgres.stopImmediate()
    const stoppedAt = performance.now()
    await sleep(c.pgStopMs - (stoppedAt - at))
    const startAt = performance.now()
    await c.postgres.start()
    startedAt = performance.now()
    c.log(
      `postgres started again (accepting connections after ${((startedAt - startAt) / 1000).toFixed(1)} s)`,
    )
    const deadline = startedAt + 120_000
    while (readyAgain.size < c.apiPorts.length && performance.now() < deadline) await sleep(100)
    polling = false
    await Promise.all(pollers)
    return {
      name: 'postgres',
      what: `pg_ctl stop -m immediate, started again after ${c.pgStopMs / 1000} s`,
      at,
      back: startedAt,
      postgres: { stoppedAt, startAt, ready },
    }
  },
}

/** "503 postgres=unavailable redis=ok", or the error when there was no answer ("ECONNREFUSED"). */
function summarise(status: number, body: string): string {
  if (status === 0) return body || 'no answer'
  try {
    const { checks } = JSON.parse(body) as { checks?: Record<string, string> }
    return `${status} ${Object.entries(checks ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`.trim()
  } catch {
    return String(status)
  }
}
