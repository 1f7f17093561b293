import type { Kysely } from 'kysely'
import type { Config } from '../../config.js'
import type { Database } from '../../db/types.js'
import { recordAuditEvent } from '../ledger/audit.service.js'
import { lockReferral } from '../referrals/referrals.repository.js'
import { listExpired, purgePayloads } from './retention.repository.js'

export interface RetentionDeps {
  db: Kysely<Database>
  config: Pick<Config, 'retentionDays'>
  now: () => Date
}

export interface RetentionRun {
  cutoff: string
  referrals: { id: string; status: string; terminalAt: string }[]
  purged: number
}

const DAY_MS = 86_400_000

/**
 * Purges the payloads of closed, declined and withdrawn referrals that reached that state more than
 * RETENTION_DAYS ago. Each referral is purged in its own transaction with its audit event, so a run
 * cut short resumes where it stopped; a second run finds nothing. `dryRun` lists without changing.
 */
export async function runRetention(
  deps: RetentionDeps,
  options: { dryRun?: boolean; batchSize?: number } = {},
): Promise<RetentionRun> {
  const now = deps.now()
  const cutoff = new Date(now.getTime() - deps.config.retentionDays * DAY_MS)
  const batchSize = options.dryRun ? 100_000 : (options.batchSize ?? 500)
  const referrals: RetentionRun['referrals'] = []
  let purged = 0
  const seen = new Set<string>()
  for (;;) {
    const batch = (await listExpired(deps.db, cutoff, batchSize)).filter((r) => !seen.has(r.id))
    for (const row of batch) {
      seen.add(row.id)
      referrals.push({ id: row.id, status: row.status, terminalAt: row.terminal_at!.toISOString() })
      if (options.dryRun) continue
      await deps.db.transaction().execute(async (trx) => {
        const current = await lockReferral(trx, row.id)
        if (!current || current.erased_at) return
        await purgePayloads(trx, row.id, now)
        await recordAuditEvent(trx, {
          actor: 'system',
          action: 'referral.purged',
          target: { type: 'referral', id: row.id },
          referralId: row.id,
          outcome: 'success',
          details: { retentionDays: deps.config.retentionDays, status: current.status },
        })
        purged++
      })
    }
    if (batch.length === 0 || options.dryRun) break
  }
  return { cutoff: cutoff.toISOString(), referrals, purged }
}
