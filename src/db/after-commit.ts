import { type Kysely, sql, type Transaction } from 'kysely'
import type { Database } from './types.js'

/**
 * NOTIFY inside a transaction makes its commit take a database-wide lock (PostgreSQL serialises the
 * commits of notifying transactions), so wake-ups are collected during the transaction and sent
 * right after it commits. They are hints: the outbox relay also sweeps, long-polls also time out.
 */
const pending = new WeakMap<object, Map<string, Set<string>>>()

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
  const channels: string[] = []
  const payloads: string[] = []
  for (const [channel, set] of notifications) {
    for (const payload of set) {
      channels.push(channel)
      payloads.push(payload)
    }
  }
  if (channels.length > 0) {
    await sql`select pg_notify(c, p) from unnest(${channels}::text[], ${payloads}::text[]) as n(c, p)`
      .execute(db)
      .catch(() => {})
  }
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
