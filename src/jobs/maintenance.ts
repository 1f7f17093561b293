import type { Job } from 'bullmq'
import { runRetention } from '../modules/retention/retention.service.js'
import type { Queues } from './queues.js'
import type { JobDeps } from './worker-deps.js'

/** The `maintenance` queue: daily retention (and room for other housekeeping). */
export function maintenanceProcessor(deps: JobDeps) {
  return async (job: Job) => {
    if (job.name !== 'retention') throw new Error(`unknown maintenance job ${job.name}`)
    const result = await runRetention({
      db: deps.db,
      config: deps.config,
      now: deps.now ?? (() => new Date()),
    })
    deps.log.info({ purged: result.purged, cutoff: result.cutoff }, 'retention run')
    return { purged: result.purged }
  }
}

/** One daily retention run, whichever worker takes it (a job scheduler is shared through Redis). */
export async function scheduleMaintenance(queues: Queues): Promise<void> {
  await queues.maintenance.upsertJobScheduler(
    'retention-daily',
    { pattern: '17 3 * * *', tz: 'UTC' },
    { name: 'retention', data: {}, opts: { removeOnComplete: 30, removeOnFail: 100 } },
  )
}
