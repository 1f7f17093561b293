import type { Kysely } from 'kysely'
import type { Database } from '../../db/types.js'
import { recordAuditEvent } from '../ledger/audit.service.js'
import {
  type CompactionOutcome,
  compactTable,
  listDue,
  type PayloadTable,
  tryLockCompaction,
  unlockCompaction,
} from './compaction.repository.js'

export interface CompactionDeps {
  db: Kysely<Database>
}

export interface CompactionRun {
  /** Another session was compacting; what it does not cover waits for the next run. */
  busy: boolean
  tables: {
    table: PayloadTable
    /** `held`: a snapshot older than the last erasure still exists; `lock-timeout`: the table stayed busy. */
    outcome: CompactionOutcome | 'lock-timeout'
    erasures: number
    since: string
  }[]
}

/** How long a rewrite waits for its table: statements queue behind a waiting ACCESS EXCLUSIVE lock. */
const LOCK_TIMEOUT_MS = 1_000

const isLockTimeout = (error: unknown) => (error as { code?: unknown })?.code === '55P03'

/**
 * Removes erased payloads from the payload tables' files: rewrites (CLUSTER) each table that lost
 * rows since its last rewrite, one table per transaction, so that what retention and erasure
 * deleted is in no table or index file any more. Many erasures make one rewrite. Single-active per
 * schema through a session advisory lock; every rewrite is audited (`payloads.compacted`).
 *
 * A rewrite holds the table ACCESS EXCLUSIVE for as long as it takes (about the table's size over
 * the disk's copy rate): submissions, referral and inbox reads and webhook sends wait for it. It
 * waits at most `lockTimeoutMs` for its lock, and a table it could not have, or whose erasures a
 * still-open older snapshot could see, is left for the next run.
 */
export async function compactErasedPayloads(
  deps: CompactionDeps,
  options: { lockTimeoutMs?: number } = {},
): Promise<CompactionRun> {
  return deps.db.connection().execute(async (session) => {
    if (!(await tryLockCompaction(session))) return { busy: true, tables: [] }
    try {
      const tables: CompactionRun['tables'] = []
      for (const due of await listDue(session)) {
        const since = due.since.toISOString()
        try {
          const done = await session.transaction().execute(async (trx) => {
            const result = await compactTable(trx, due.table_name, options.lockTimeoutMs ?? LOCK_TIMEOUT_MS)
            if (result.outcome === 'compacted') {
              await recordAuditEvent(trx, {
                actor: 'system',
                action: 'payloads.compacted',
                target: { type: 'payload_table', id: due.table_name },
                outcome: 'success',
                details: { erasures: result.erasures, since },
              })
            }
            return result
          })
          tables.push({ table: due.table_name, outcome: done.outcome, erasures: done.erasures, since })
        } catch (error) {
          if (!isLockTimeout(error)) throw error
          tables.push({ table: due.table_name, outcome: 'lock-timeout', erasures: due.erasures, since })
        }
      }
      return { busy: false, tables }
    } finally {
      await unlockCompaction(session)
    }
  })
}
