import { loadConfig } from '../config.js'
import { createDb } from '../db/create-db.js'
import { compactErasedPayloads } from '../modules/retention/compaction.service.js'
import { runRetention } from '../modules/retention/retention.service.js'
import { EXIT } from './usage.js'

/**
 * `trm retention [--dry-run]`: purge (or list) payloads past RETENTION_DAYS now, as the daily job
 * does, then rewrite the payload tables that hold erased rows (those of earlier erasures included).
 */
export async function retentionCommand({ dryRun }: { dryRun: boolean }): Promise<number> {
  const config = loadConfig()
  const { db } = createDb(config, 'trm-cli')
  try {
    const result = await runRetention({ db, config, now: () => new Date() }, { dryRun })
    for (const referral of result.referrals) {
      process.stdout.write(
        `${dryRun ? 'would purge' : 'purged'} ${referral.id} (${referral.status} ${referral.terminalAt})\n`,
      )
    }
    process.stdout.write(
      `${dryRun ? `${result.referrals.length} referral(s) would be purged` : `${result.purged} referral(s) purged`}` +
        ` (terminal before ${result.cutoff}, RETENTION_DAYS=${config.retentionDays})\n`,
    )
    if (dryRun) return EXIT.ok
    const compaction = await compactErasedPayloads({ db })
    if (compaction.busy) process.stdout.write('compaction: another session is compacting now\n')
    for (const table of compaction.tables) {
      process.stdout.write(
        `compaction: ${table.table} ${table.outcome} (${table.erasures} erasure(s) since ${table.since})\n`,
      )
    }
    return EXIT.ok
  } finally {
    await db.destroy()
  }
}
