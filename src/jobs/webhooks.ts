import { DelayedError, type Job, WaitingError } from 'bullmq'
import type { InboxMessageRow } from '../db/types.js'
import { signDetached, WEBHOOK_SIGNATURE_TYP } from '../lib/detached-jws.js'
import { OutboundError, postJson } from '../lib/outbound.js'
import { findDeliveryTarget } from '../modules/deliveries/deliveries.repository.js'
import {
  cancelUndeliverable,
  recordDelivered,
  recordFailedAttempt,
} from '../modules/deliveries/deliveries.service.js'
import { toInboxItem } from '../modules/inbox/inbox.core.js'
import type { Processor } from './queues.js'
import { type JobDeps, SHUTDOWN } from './worker-deps.js'

export interface WebhookJob {
  messageId: string
  /** Which job of the delivery this is: absent (0) for the first, n for the one the n-th retry scheduled. */
  retry?: number
}

/** The receiver did not take the message; the attempt is already recorded. BullMQ retries it. */
class DeliveryFailed extends Error {
  override name = 'DeliveryFailed'
}

/**
 * Pushes one inbox message to its agency's webhook, signed by the hub (`TRM-Signature`, a detached
 * JWS over the exact body). A 2xx is delivery; anything else is recorded and thrown so BullMQ retries
 * with the webhook backoff, and the last failure marks the delivery `failed`. A worker shutting down
 * puts the job back in the queue without spending an attempt. A delivery whose agency switched to
 * pull ends `cancelled`; one that is not pending, or that a retry handed to a newer job, is left alone.
 */
export function webhookProcessor(deps: JobDeps): Processor {
  const { config, log } = deps
  return async function deliverWebhook(job: Job, token?: string, signal?: AbortSignal) {
    const final = job.attemptsMade + 1 >= (job.opts.attempts ?? 1)
    try {
      return await attempt(job, token, signal, final)
    } catch (error) {
      const settled = error instanceof DeliveryFailed || error instanceof WaitingError
      if (settled || error instanceof DelayedError || !final) throw error
      // Our side failed (the database) on the last attempt: the job must not leave BullMQ while
      // Postgres still says `pending`. It comes back later, attempt unspent.
      log.warn({ err: error, jobId: job.id }, 'webhook: cannot record the final outcome; retrying later')
      await job.moveToDelayed(Date.now() + config.webhooks.backoffMs, token)
      throw new DelayedError()
    }
  }

  async function attempt(
    job: Job,
    token: string | undefined,
    signal: AbortSignal | undefined,
    final: boolean,
  ) {
    const { messageId, retry = 0 } = job.data as WebhookJob
    const found = await findDeliveryTarget(deps.db, messageId)
    if (!found) {
      log.warn({ messageId }, 'webhook: no such delivery; nothing to do')
      return 'gone'
    }
    const {
      delivery_status,
      delivery_retries,
      agency_status,
      delivery_mode,
      delivery_url,
      evidence_target,
      ...message
    } = found
    if (delivery_status === 'delivered') return 'already-delivered'
    if (delivery_retries !== retry) return 'superseded'
    // `failed` here is a job run again after its final attempt was recorded (a stalled job).
    if (delivery_status !== 'pending') return delivery_status
    if (delivery_mode !== 'push' || !delivery_url) {
      return (await cancelUndeliverable(deps, messageId)) ? 'cancelled' : 'not-push'
    }

    const target = { messageId, agencyId: message.agency_id, referralId: message.referral_id, retry }
    const outcome =
      agency_status === 'active'
        ? await send(job, token, signal, delivery_url, message, target)
        : { error: 'the agency is suspended; nothing is sent to it' }
    if ('httpStatus' in outcome) {
      await recordDelivered(deps, {
        ...target,
        type: message.type,
        httpStatus: outcome.httpStatus,
        evidenceTarget: evidence_target,
      })
      return 'delivered'
    }
    await recordFailedAttempt(deps, { ...target, error: outcome.error, final })
    throw new DeliveryFailed(outcome.error)
  }

  async function send(
    job: Job,
    token: string | undefined,
    signal: AbortSignal | undefined,
    url: string,
    message: InboxMessageRow,
    target: { messageId: string; agencyId: string; referralId: string; retry: number },
  ): Promise<{ httpStatus: number } | { error: string }> {
    const body = Buffer.from(JSON.stringify(toInboxItem(message)))
    const signature = await signDetached(deps.hubKeys, WEBHOOK_SIGNATURE_TYP, body)
    try {
      const httpStatus = await postJson(url, body, {
        headers: {
          'content-type': 'application/json',
          'trm-message-id': message.id,
          'trm-signature': signature,
          'user-agent': 'trm-hub-webhook/1',
        },
        timeoutMs: config.webhooks.timeoutMs,
        allowLoopback: config.webhooks.allowLoopback,
        ...(signal ? { signal } : {}),
      })
      return { httpStatus }
    } catch (caught) {
      if (!(caught instanceof OutboundError)) throw caught
      if (caught.kind === 'aborted' && signal?.reason === SHUTDOWN) {
        const interrupted = 'interrupted: the worker shut down; back in the queue'
        await recordFailedAttempt(deps, { ...target, error: interrupted, final: false }).catch(() => {})
        await job.moveToWait(token)
        throw new WaitingError()
      }
      if (caught.kind === 'refused') {
        // A refused target may be someone probing the hub's network: the operator sees the range.
        log.info(
          { messageId: message.id, agencyId: message.agency_id, range: caught.detail },
          'webhook: target refused',
        )
      }
      return { error: caught.message }
    }
  }
}
