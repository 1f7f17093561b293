import { DelayedError, type Job, UnrecoverableError } from 'bullmq'
import { escalateIfOverdue } from '../modules/deadlines/deadlines.service.js'
import type { Processor } from './queues.js'
import type { JobDeps } from './worker-deps.js'

export interface AckDeadlineJob {
  referralId: string
}

/**
 * `ack-deadline` fires at a referral's ackDueAt (the outbox row's runAt). A job that fires early (clocks
 * of the API and worker disagree) waits until the due time instead of escalating before it.
 *
 * Kept for one release only: deadlines are now raised by the deadline sweep (deadline-sweep.ts) and
 * submissions no longer write this job. This processor drains the jobs earlier releases queued; it
 * escalates through the same escalateOverdue as the sweep, so a referral is escalated once whichever
 * comes first. Remove it, and the `deadlines` queue, in the release after.
 */
export function deadlineProcessor(deps: JobDeps): Processor {
  const now = deps.now ?? (() => new Date())
  return async function ackDeadline(job: Job, token?: string) {
    if (job.name !== 'ack-deadline') throw new UnrecoverableError(`unknown deadlines job ${job.name}`)
    const { referralId } = job.data as AckDeadlineJob
    const result = await escalateIfOverdue(
      { db: deps.db, config: deps.config, hubKeys: deps.hubKeys, now },
      referralId,
    )
    if (result.outcome === 'not-due') {
      await job.moveToDelayed(result.dueAt.getTime() + 1, token)
      throw new DelayedError()
    }
    if (result.outcome === 'escalated') {
      deps.log.info({ referralId, notified: result.notified.length }, 'referral escalated')
    }
    return result.outcome
  }
}
