import { type Kysely, sql } from 'kysely'
import type { CompactionDueTable, Database } from '../../db/types.js'

export type PayloadTable = CompactionDueTable['table_name']

/** The tables erasure deletes from, the only ones trm_compact_payloads rewrites. */
export const PAYLOAD_TABLES: readonly PayloadTable[] = [
  'referral_payloads',
  'acknowledgement_payloads',
  'linkage_tokens',
]

/** One compaction per schema at a time, whichever worker or `trm` command runs it. */
const COMPACTION_LOCK = sql`hashtextextended('trm-payload-compaction:' || current_schema(), 0)`

/** Takes the session's compaction lock when no other session holds it; false when one does. */
export async function tryLockCompaction(session: Kysely<Database>): Promise<boolean> {
  const { rows } = await sql<{ ok: boolean }>`select pg_try_advisory_lock(${COMPACTION_LOCK}) as ok`.execute(
    session,
  )
  return rows[0]?.ok === true
}

export async function unlockCompaction(session: Kysely<Database>): Promise<void> {
  await sql`select pg_advisory_unlock(${COMPACTION_LOCK})`.execute(session)
}

/** The payload tables holding erased rows not yet rewritten away, with how many and since when. */
export function listDue(db: Kysely<Database>) {
  return db.selectFrom('compaction_due').selectAll().orderBy('table_name').execute()
}

export type CompactionOutcome = 'compacted' | 'held' | 'nothing'

/**
 * Rewrites one payload table inside the caller's transaction (see migrations/2026-12-03-02): waits
 * at most `lockTimeoutMs` for a lock (a lock_not_available error after that; the rewrite needs no
 * other that anyone could hold), then holds the table ACCESS EXCLUSIVE until the transaction ends. The lock comes in a statement of its own so that the
 * rewrite's snapshot is taken after every erasure of the table has committed.
 */
export async function compactTable(
  trx: Kysely<Database>,
  table: PayloadTable,
  lockTimeoutMs: number,
): Promise<{ outcome: CompactionOutcome; erasures: number }> {
  if (!PAYLOAD_TABLES.includes(table)) throw new RangeError(`${table} is not a payload table`)
  await sql`select set_config('lock_timeout', ${`${Math.max(1, Math.round(lockTimeoutMs))}ms`}, true)`.execute(
    trx,
  )
  await sql`lock table ${sql.table(table)} in access exclusive mode`.execute(trx)
  const { rows } = await sql<{ outcome: CompactionOutcome; erasures: number }>`
    select outcome, erasures from trm_compact_payloads(${table})`.execute(trx)
  return rows[0]!
}
