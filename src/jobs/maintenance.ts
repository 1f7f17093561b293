import type { Job } from 'bullmq'
import { compactErasedPayloads } from '../modules/retention/compaction.service.js'
import { runRetention } from '../modules/retention/retention.service.js'
import { releaseLatestQuarter } from '../modules/stats/stats.service.js'
import type { Queues } from './queues.js'
import type { JobDeps } from './worker-deps.js'

/**
 * The `maintenance` queue: the daily retention run, which purges payloads past RETENTION_DAYS and
 * then removes them from the payload tables' files, and the hourly compaction, which does the same
 * for what erasure requests deleted since (nothing to do, one small query, when none was erased);
 * and the hourly statistics release, which makes the latest ended quarter's release if none was made.
 */
export function maintenanceProcessor(deps: JobDeps) {
  return async (job: Job) => {
    if (job.name === 'retention') {
      const result = await runRetention({
        db: deps.db,
        config: deps.config,
        now: deps.now ?? (() => new Date()),
      })
      deps.log.info({ purged: result.purged, cutoff: result.cutoff }, 'retention run')
      return { purged: result.purged, compaction: await compact(deps) }
    }
    if (job.name === 'compaction') return { compaction: await compact(deps) }
    if (job.name === 'stats-release') {
      const now = deps.now ?? (() => new Date())
      return { release: await releaseLatestQuarter({ db: deps.db, minCell: deps.config.statsMinCell, now }) }
    }
    throw new Error(`unknown maintenance job ${job.name}`)
  }
}

async function compact(deps: JobDeps) {
  const run = await compactErasedPayloads({ db: deps.db })
  if (run.busy || run.tables.length > 0)
    deps.log.info({ busy: run.busy, tables: run.tables }, 'compaction run')
  return run
}

/** Whichever worker takes them (job schedulers are shared through Redis). */
export async function scheduleMaintenance(queues: Queues): Promise<void> {
  const opts = { removeOnComplete: 30, removeOnFail: 100 }
  await queues.maintenance.upsertJobScheduler(
    'retention-daily',
    { pattern: '17 3 * * *', tz: 'UTC' },
    { name: 'retention', data: {}, opts },
  )
  await queues.maintenance.upsertJobScheduler(
    'compaction-hourly',
    { pattern: '47 * * * *', tz: 'UTC' },
    { name: 'compaction', data: {}, opts },
  )
  await queues.maintenance.upsertJobScheduler(
    'stats-release-hourly',
    { pattern: '7 * * * *', tz: 'UTC' },
    { name: 'stats-release', data: {}, opts },
  )
}
