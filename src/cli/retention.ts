import { parseArgs } from 'node:util'
import { loadConfig } from '../config.js'
import { createDb } from '../db/create-db.js'
import { runRetention } from '../modules/retention/retention.service.js'
import { EXIT } from './usage.js'

/** `trm retention [--dry-run]`: purge (or list) payloads past RETENTION_DAYS now, as the daily job does. */
export async function retentionCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { 'dry-run': { type: 'boolean', default: false } } })
  const config = loadConfig()
  const { db } = createDb(config, 'trm-cli')
  try {
    const dryRun = values['dry-run']
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
    return EXIT.ok
  } finally {
    await db.destroy()
  }
}
