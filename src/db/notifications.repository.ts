import { type Kysely, sql } from 'kysely'
import type { Database } from './types.js'

/** Sends NOTIFYs, one per (channel, payload), in one statement outside any transaction. */
export async function sendNotifications(
  db: Kysely<Database>,
  notifications: readonly { channel: string; payload: string }[],
): Promise<void> {
  const channels = notifications.map((n) => n.channel)
  const payloads = notifications.map((n) => n.payload)
  await sql`select pg_notify(c, p) from unnest(${channels}::text[], ${payloads}::text[]) as n(c, p)`.execute(
    db,
  )
}
