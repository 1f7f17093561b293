import { type Kysely, sql, type Transaction } from 'kysely'
import type { Database } from './types.js'

/**
 * NOTIFY inside a transaction makes its commit take a database-wide lock (PostgreSQL serialises the
 * commits of notifying transactions), so wake-ups are collected during the transaction and sent
 * right after it commits. They are hints: the outbox relay also sweeps, long-polls also time out.
 */
const pending = new WeakMap<object, Map<string, Set<string>>>()

/**
 * NOTIFYs for one database, sent by one statement for everything asked since the previous one went
 * out: under load many requests share a round trip, and an idle hub sends each at once.
 */
class NotifyBatch {
  /** What the next statement will send, and the promise its callers wait on. */
  #next: { notifications: Map<string, Set<string>>; sent: Promise<void>; resolve: () => void } | undefined
  #sending = false

  constructor(private readonly db: Kysely<Database>) {}

  add(notifications: Map<string, Set<string>>): Promise<void> {
    if (!this.#next) {
      let resolve!: () => void
      const sent = new Promise<void>((r) => {
        resolve = r
      })
      this.#next = { notifications: new Map(), sent, resolve }
    }
    for (const [channel, payloads] of notifications) {
      const set = this.#next.notifications.get(channel) ?? new Set()
      for (const payload of payloads) set.add(payload)
      this.#next.notifications.set(channel, set)
    }
    if (!this.#sending) void this.#send()
    return this.#next.sent
  }

  /** Sends batches one statement at a time; each caller waits only for the batch it joined. */
  async #send(): Promise<void> {
    this.#sending = true
    // Let the requests of this turn of the event loop join the first batch.
    await new Promise((resolve) => setImmediate(resolve))
    while (this.#next) {
      const batch = this.#next
      this.#next = undefined
      const channels: string[] = []
      const payloads: string[] = []
      for (const [channel, set] of batch.notifications) {
        for (const payload of set) {
          channels.push(channel)
          payloads.push(payload)
        }
      }
      await sql`select pg_notify(c, p) from unnest(${channels}::text[], ${payloads}::text[]) as n(c, p)`
        .execute(this.db)
        .catch(() => {})
      batch.resolve()
    }
    this.#sending = false
  }
}

const batches = new WeakMap<Kysely<Database>, NotifyBatch>()

/**
 * Sends NOTIFYs outside any transaction, batched with those of concurrent requests. The promise
 * resolves once they went out; a failure is dropped (they are hints).
 */
export function notifySoon(db: Kysely<Database>, notifications: Map<string, Set<string>>): Promise<void> {
  if (notifications.size === 0) return Promise.resolve()
  let batch = batches.get(db)
  if (!batch) {
    batch = new NotifyBatch(db)
    batches.set(db, batch)
  }
  return batch.add(notifications)
}

/** Runs fn in a transaction and sends the notifications it asked for once it has committed. */
export async function transact<T>(
  db: Kysely<Database>,
  fn: (trx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  const notifications = new Map<string, Set<string>>()
  const result = await db.transaction().execute(async (trx) => {
    pending.set(trx, notifications)
    return fn(trx)
  })
  await notifySoon(db, notifications)
  return result
}

/**
 * Asks for a NOTIFY: after commit when db is a transaction opened by {@link transact}, else at once
 * (inside any other transaction Postgres still delivers it on commit only).
 */
export async function notifyAfterCommit(
  db: Kysely<Database>,
  channel: string,
  payload: string,
): Promise<void> {
  const notifications = pending.get(db)
  if (notifications) {
    const set = notifications.get(channel) ?? new Set()
    set.add(payload)
    notifications.set(channel, set)
    return
  }
  await sql`select pg_notify(${channel}, ${payload})`.execute(db)
}
