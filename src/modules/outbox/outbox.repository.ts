import { type Kysely, sql } from 'kysely'
import type { Database, NewOutboxRow } from '../../db/types.js'

export async function insertOutbox(db: Kysely<Database>, row: NewOutboxRow): Promise<void> {
  await db.insertInto('outbox').values(row).execute()
}

/** A batch of unrelayed rows, oldest first. Reads only: the relay is single-active by its own lock. */
export function listPending(db: Kysely<Database>, limit: number) {
  return db
    .selectFrom('outbox')
    .selectAll()
    .where('relayed_at', 'is', null)
    .orderBy('created_at')
    .limit(limit)
    .execute()
}

export async function markRelayed(db: Kysely<Database>, ids: string[]): Promise<void> {
  if (ids.length === 0) return
  await db.updateTable('outbox').set({ relayed_at: sql`now()` }).where('id', 'in', ids).execute()
}

export async function countPending(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('outbox')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('relayed_at', 'is', null)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}
