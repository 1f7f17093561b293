import { DelayedError, type Job, WaitingError } from 'bullmq'
import { signDetached, WEBHOOK_SIGNATURE_TYP } from '../lib/detached-jws.js'
import { OutboundError, postJson } from '../lib/outbound.js'
import { findAgency } from '../modules/agencies/agencies.repository.js'
import { findDelivery } from '../modules/deliveries/deliveries.repository.js'
import { recordDelivered, recordFailedAttempt } from '../modules/deliveries/deliveries.service.js'
import { toInboxItem } from '../modules/inbox/inbox.core.js'
import { findMessage } from '../modules/inbox/inbox.repository.js'
import type { Processor } from './processors.js'
import { type JobDeps, SHUTDOWN } from './worker-deps.js'

export interface WebhookJob {
  messageId: string
}

/**
 * Pushes one inbox message to its agency's webhook, signed by the hub (`TRM-Signature`, a detached
 * JWS over the exact body). A 2xx is delivery; anything else is recorded and thrown so BullMQ retries
 * with the webhook backoff, and the last failure marks the delivery `failed`. A worker shutting down
 * puts the job back in the queue without spending an attempt.
 */
export function webhookProcessor(deps: JobDeps): Processor {
  const { config, db, log } = deps
  return async function deliverWebhook(job: Job, token?: string, signal?: AbortSignal) {
    const { messageId } = job.data as WebhookJob
    const delivery = await findDelivery(db, messageId)
    const message = delivery ? await findMessage(db, messageId) : undefined
    const agency = delivery ? await findAgency(db, delivery.agency_id) : undefined
    if (!delivery || !message || !agency) {
      log.warn({ messageId }, 'webhook: no such delivery; nothing to do')
      return 'gone'
    }
    if (delivery.status === 'delivered') return 'already-delivered'
    if (agency.delivery_mode !== 'push' || !agency.delivery_url) return 'not-push'

    const attempt = { messageId, agencyId: agency.id, referralId: message.referral_id }
    const final = job.attemptsMade + 1 >= (job.opts.attempts ?? 1)
    let error: string
    if (agency.status !== 'active') {
      error = 'the agency is suspended; nothing is sent to it'
    } else {
      const body = Buffer.from(JSON.stringify(toInboxItem(message)))
      const signature = await signDetached(deps.hubKeys, WEBHOOK_SIGNATURE_TYP, body)
      try {
        const httpStatus = await postJson(agency.delivery_url, body, {
          headers: {
            'content-type': 'application/json',
            'trm-message-id': messageId,
            'trm-signature': signature,
            'user-agent': 'trm-hub-webhook/1',
          },
          timeoutMs: config.webhooks.timeoutMs,
          allowLoopback: config.webhooks.allowLoopback,
          ...(signal ? { signal } : {}),
        })
        await settle(job, token, final, () =>
          recordDelivered(deps, { ...attempt, type: message.type, httpStatus }),
        )
        return 'delivered'
      } catch (caught) {
        if (!(caught instanceof OutboundError)) throw caught
        if (caught.kind === 'aborted' && signal?.reason === SHUTDOWN) {
          await recordFailedAttempt(deps, {
            ...attempt,
            error: 'interrupted: the worker shut down; back in the queue',
            final: false,
          }).catch(() => {})
          await job.moveToWait(token)
          throw new WaitingError()
        }
        error = caught.message
      }
    }
    await settle(job, token, final, () => recordFailedAttempt(deps, { ...attempt, error, final }))
    throw new Error(error)
  }

  /**
   * Runs the database write of an outcome. On the final attempt a failed write must not let the job
   * leave BullMQ while Postgres still says `pending`: it is delayed and comes back, attempt unspent.
   */
  async function settle(job: Job, token: string | undefined, final: boolean, write: () => Promise<unknown>) {
    try {
      await write()
    } catch (error) {
      if (!final || error instanceof DelayedError) throw error
      log.warn({ err: error, jobId: job.id }, 'webhook: cannot record the final outcome; retrying later')
      await job.moveToDelayed(Date.now() + config.webhooks.backoffMs, token)
      throw new DelayedError()
    }
  }
}
