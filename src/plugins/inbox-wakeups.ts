import fp from 'fastify-plugin'
import type pg from 'pg'
import { createPool } from '../db/create-db.js'
import { inboxChannel } from '../modules/inbox/inbox.service.js'

export interface InboxSubscription {
  /** Resolves true once a message for the agency was committed since subscribing, false at the timeout. */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<boolean>
  cancel(): void
}

export interface InboxWakeups {
  /** Subscribe before reading the inbox, so a message committed in between is not missed. */
  subscribe(agencyId: string): Promise<InboxSubscription>
}

declare module 'fastify' {
  interface FastifyInstance {
    inboxWakeups: InboxWakeups
  }
}

/**
 * Long-poll wake-ups through Postgres LISTEN/NOTIFY: writers NOTIFY in the transaction that adds the
 * message, so every API process hears of it on commit. One listening connection per process.
 */
export default fp(
  async function inboxWakeups(app) {
    const waiters = new Map<string, Set<() => void>>()
    const channel = inboxChannel(app.config.databaseSchema)
    const pool = createPool({ ...app.config, databasePoolMax: 1 }, 'trm-hub-inbox-listener')
    pool.on('error', () => {})
    let client: pg.PoolClient | undefined
    let connecting: Promise<void> | undefined
    let closed = false

    const wake = (agencyId: string) => {
      for (const resolve of waiters.get(agencyId) ?? []) resolve()
    }
    const listen = async () => {
      if (client || closed) return
      connecting ??= (async () => {
        try {
          const connected = await pool.connect()
          connected.on('notification', (n) => n.payload && wake(n.payload))
          connected.on('error', () => {
            connected.release(true)
            client = undefined
          })
          await connected.query(`listen "${channel}"`)
          client = connected
        } catch (error) {
          app.log.warn({ err: error }, 'inbox wake-ups: cannot listen yet')
        } finally {
          connecting = undefined
        }
      })()
      await connecting
    }

    app.decorate('inboxWakeups', {
      async subscribe(agencyId) {
        await listen()
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
        return {
          cancel,
          wait(timeoutMs, signal) {
            if (woken || closed) {
              const was = woken
              woken = false
              return Promise.resolve(was)
            }
            return new Promise<boolean>((resolve) => {
              const finish = () => {
                clearTimeout(timer)
                signal?.removeEventListener('abort', finish)
                notify = undefined
                const was = woken
                woken = false
                resolve(was)
              }
              const timer = setTimeout(finish, timeoutMs)
              signal?.addEventListener('abort', finish)
              notify = finish
            })
          },
        }
      },
    })
    app.addHook('onClose', async () => {
      closed = true
      for (const agencyId of [...waiters.keys()]) wake(agencyId)
      client?.release(true)
      await pool.end()
    })
  },
  { name: 'trm-inbox-wakeups' },
)
