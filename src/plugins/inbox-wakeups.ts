import fp from 'fastify-plugin'
import { listenInProcess } from '../db/after-commit.js'
import { createPool } from '../db/create-db.js'
import { type DedicatedSession, dedicatedSession } from '../db/dedicated-session.js'
import type { InboxWakeups } from '../modules/inbox/inbox.wakeups.js'
import { inboxChannel } from '../modules/ledger/inbox.service.js'

declare module 'fastify' {
  interface FastifyInstance {
    inboxWakeups: InboxWakeups
  }
}

/**
 * Long-poll wake-ups through Postgres LISTEN/NOTIFY: writers NOTIFY right after the commit that adds
 * a message, so every API process hears of it (the writing process itself at once, without the round
 * trip: listenInProcess). One listening connection per process, opened when
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
    let session: DedicatedSession | undefined
    let closed = false
    let waiting = 0

    const wake = (agencyId: string) => {
      for (const resolve of waiters.get(agencyId) ?? []) resolve()
    }
    const wakeAll = () => {
      for (const agencyId of [...waiters.keys()]) wake(agencyId)
    }

    app.decorate('inboxWakeups', {
      get waiting() {
        return waiting
      },
      get listening() {
        return session?.active === true
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

    // What this process writes wakes its own long-polls at once; the NOTIFY is for the others.
    const stopInProcess = listenInProcess(app.db, channel, (payload) => payload && wake(payload))
    app.addHook('onReady', async () => {
      // Reconnects from 50 ms doubling to 1 s, so a returning Postgres is heard within about a
      // second; whatever was committed while nobody listened is read at once (onActive).
      session = dedicatedSession({
        pool,
        name: 'inbox wake-ups',
        log: app.log,
        channels: [channel],
        onNotification: (payload) => payload && wake(payload),
        onActive: wakeAll,
        retry: { minMs: 50, maxMs: 1_000 },
      })
    })
    // preClose runs before Fastify waits for open requests: waiting long-polls answer now.
    app.addHook('preClose', async () => {
      closed = true
      stopInProcess()
      wakeAll()
      await session?.close()
    })
    app.addHook('onClose', async () => {
      closed = true
      await session?.close()
      await pool.end()
    })
  },
  { name: 'trm-inbox-wakeups' },
)
