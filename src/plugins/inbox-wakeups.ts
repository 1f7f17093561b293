import fp from 'fastify-plugin'
import type pg from 'pg'
import { createPool } from '../db/create-db.js'
import { inboxChannel } from '../modules/ledger/inbox.service.js'

export interface InboxSubscription {
  /**
   * Resolves true once the agency may have a new message since subscribing (a NOTIFY for it, or the
   * listener coming back after a loss, or the process closing), false at the timeout or on abort.
   */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<boolean>
  cancel(): void
}

export interface InboxWakeups {
  /** Subscribe before reading the inbox, so a message committed in between is not missed. */
  subscribe(agencyId: string): InboxSubscription
  /** Long-polls waiting in this process right now. */
  readonly waiting: number
  /** Whether this process hears NOTIFYs right now (false while the listener reconnects). */
  readonly listening: boolean
  /** True once the app closes: long-polls answer with what they have instead of waiting. */
  readonly closing: boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    inboxWakeups: InboxWakeups
  }
}

/** Reconnection back-off: from 50 ms doubling to 1 s, with jitter, so a returning Postgres is heard within about a second. */
const RECONNECT_MIN_MS = 50
const RECONNECT_MAX_MS = 1_000

/**
 * Long-poll wake-ups through Postgres LISTEN/NOTIFY: writers NOTIFY right after the commit that adds
 * a message, so every API process hears of it. One listening connection per process, opened when
 * the app is ready and reopened with back-off whenever it is lost. A NOTIFY sent while the listener
 * is away is lost, so every time it starts listening again it wakes every waiting long-poll to read
 * once more: what was committed meanwhile is found at once.
 *
 * On close (before Fastify waits for open requests) every waiting long-poll is woken to answer with
 * what it has, so shutdown does not wait out their waits.
 */
export default fp(
  async function inboxWakeups(app) {
    const waiters = new Map<string, Set<() => void>>()
    const channel = inboxChannel(app.config.databaseSchema)
    const pool = createPool({ ...app.config, databasePoolMax: 1 }, 'trm-hub-inbox-listener')
    let client: pg.PoolClient | undefined
    let connecting = false
    let failures = 0
    let retry: NodeJS.Timeout | undefined
    let closed = false
    let waiting = 0

    const wake = (agencyId: string) => {
      for (const resolve of waiters.get(agencyId) ?? []) resolve()
    }
    const wakeAll = () => {
      for (const agencyId of [...waiters.keys()]) wake(agencyId)
    }

    const reconnectLater = () => {
      if (closed || retry) return
      const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** failures) * (0.5 + Math.random() / 2)
      failures += 1
      retry = setTimeout(() => {
        retry = undefined
        void listen()
      }, delay)
    }

    const listen = async () => {
      if (closed || client || connecting) return
      connecting = true
      let connected: pg.PoolClient | undefined
      try {
        connected = await pool.connect()
        const lost = (candidate: pg.PoolClient) => () => {
          if (client !== candidate) return
          client = undefined
          candidate.release(true)
          app.log.warn('inbox wake-ups: the listening connection was lost; reconnecting')
          reconnectLater()
        }
        connected.on('notification', (n) => n.payload && wake(n.payload))
        connected.on('error', lost(connected))
        connected.on('end', lost(connected))
        await connected.query(`listen "${channel}"`)
        if (closed) {
          connected.release(true)
          return
        }
        client = connected
        if (failures > 0) app.log.info('inbox wake-ups: listening again')
        failures = 0
        // Whatever was committed while nobody listened is read now.
        wakeAll()
      } catch (error) {
        if (failures === 0) app.log.warn({ err: error }, 'inbox wake-ups: cannot listen; retrying')
        connected?.release(true)
        reconnectLater()
      } finally {
        connecting = false
      }
    }

    app.decorate('inboxWakeups', {
      get waiting() {
        return waiting
      },
      get listening() {
        return client !== undefined
      },
      get closing() {
        return closed
      },
      subscribe(agencyId) {
        let woken = false
        let notify: (() => void) | undefined
        const set = waiters.get(agencyId) ?? new Set()
        waiters.set(agencyId, set)
        const onWake = () => {
          woken = true
          notify?.()
        }
        set.add(onWake)
        const cancel = () => {
          set.delete(onWake)
          if (set.size === 0) waiters.delete(agencyId)
        }
        const take = () => {
          const was = woken
          woken = false
          return was
        }
        return {
          cancel,
          wait(timeoutMs, signal) {
            if (woken || closed || signal?.aborted) return Promise.resolve(take())
            waiting += 1
            return new Promise<boolean>((resolve) => {
              const finish = () => {
                clearTimeout(timer)
                signal?.removeEventListener('abort', finish)
                notify = undefined
                waiting -= 1
                resolve(take())
              }
              const timer = setTimeout(finish, timeoutMs)
              signal?.addEventListener('abort', finish)
              notify = finish
            })
          },
        }
      },
    } satisfies InboxWakeups)

    app.addHook('onReady', async () => {
      void listen()
    })
    // preClose runs before Fastify waits for open requests: waiting long-polls answer now.
    app.addHook('preClose', async () => {
      closed = true
      clearTimeout(retry)
      wakeAll()
    })
    app.addHook('onClose', async () => {
      closed = true
      clearTimeout(retry)
      client?.release(true)
      client = undefined
      await pool.end()
    })
  },
  { name: 'trm-inbox-wakeups' },
)
