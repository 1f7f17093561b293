import type pg from 'pg'
import { listen, tryAdvisoryLock } from './session.repository.js'

export interface DedicatedSessionOptions {
  /** A pool of its own, so the session never waits behind requests for a connection. */
  pool: pg.Pool
  /** What the log lines name (e.g. "outbox relay"). */
  name: string
  log: { info: (o: object, m: string) => void; warn: (o: object, m: string) => void }
  /**
   * When set, the session is active only while it holds this session advisory lock (the name is
   * followed by the schema): one process at a time, the others stand by and take over when it goes.
   */
  lock?: string
  /** Channels to LISTEN on once the lock is held. */
  channels?: readonly string[]
  onNotification?: (payload: string | undefined) => void
  /** Called each time the session becomes active: what happened while nobody listened is read now. */
  onActive?: () => void
  /** Wait before the next attempt after a lost or refused connection: doubling from minMs to maxMs. */
  retry?: { minMs: number; maxMs: number }
  /** How often a standby asks for the lock again (default 1 s). */
  standbyMs?: number
}

export interface DedicatedSession {
  /** Connected, holding the lock (when asked for one) and listening. */
  readonly active: boolean
  /** Settles when the first attempt has ended (active or not). */
  readonly started: Promise<void>
  /** Gives the session up (dropping its lock and LISTEN) and makes no further attempt. */
  close(): Promise<void>
}

/**
 * A long-lived Postgres session for one job: single-active work (an advisory lock held by the
 * session) and LISTEN. The session is lost when its connection is (Postgres restarted, the backend
 * terminated): it then steps down and connects again with back-off, so a returning Postgres is
 * heard within `retry.maxMs`; a standby asks for the lock every `standbyMs`. Every time it becomes
 * active, `onActive` runs, because NOTIFYs sent while nobody listened are lost.
 */
export function dedicatedSession(options: DedicatedSessionOptions): DedicatedSession {
  const retry = options.retry ?? { minMs: 50, maxMs: 1_000 }
  const standbyMs = options.standbyMs ?? 1_000
  let client: pg.PoolClient | undefined
  let active = false
  let closed = false
  let failures = 0
  let timer: NodeJS.Timeout | undefined
  let attempt: Promise<void> | undefined

  const later = (ms: number) => {
    if (closed || timer) return
    timer = setTimeout(() => {
      timer = undefined
      void tryNow()
    }, ms)
  }
  const backOff = () => {
    const nominal = Math.min(retry.maxMs, retry.minMs * 2 ** failures)
    failures += 1
    later(nominal * (0.5 + Math.random() / 2))
  }
  // Destroying the connection drops its advisory lock and LISTEN; each connection is dropped once.
  const drop = (connection: pg.PoolClient, lost: boolean) => {
    if (client !== connection) return
    client = undefined
    const wasActive = active
    active = false
    connection.release(true)
    if (lost && wasActive) options.log.warn({}, `${options.name}: the session was lost; reconnecting`)
    if (lost) later(retry.minMs)
  }

  const connectAndLead = async () => {
    if (closed || active) return
    try {
      if (!client) {
        const connected = await options.pool.connect()
        client = connected
        connected.on('error', () => drop(connected, true))
        connected.on('end', () => drop(connected, true))
        connected.on('notification', (n) => options.onNotification?.(n.payload))
      }
      const session = client
      if (options.lock !== undefined && !(await tryAdvisoryLock(session, options.lock))) {
        failures = 0
        later(standbyMs)
        return
      }
      for (const channel of options.channels ?? []) await listen(session, channel)
      if (closed || client !== session) return
      active = true
      if (failures > 0) options.log.info({}, `${options.name}: active again`)
      else options.log.info({}, `${options.name}: active`)
      failures = 0
      options.onActive?.()
    } catch (error) {
      if (failures === 0) {
        const what = options.lock === undefined ? 'cannot listen yet' : 'cannot take the lead yet'
        options.log.warn({ err: error }, `${options.name}: ${what}; retrying`)
      }
      if (client) drop(client, false)
      backOff()
    }
  }
  // One attempt at a time.
  const tryNow = () => {
    attempt ??= connectAndLead().finally(() => {
      attempt = undefined
    })
    return attempt
  }

  const started = tryNow()
  return {
    get active() {
      return active
    },
    started,
    async close() {
      closed = true
      clearTimeout(timer)
      await attempt
      if (client) drop(client, false)
    },
  }
}
