import type { Kysely } from 'kysely'
import type { Config } from '../../config.js'
import { transact } from '../../db/after-commit.js'
import type { Database } from '../../db/types.js'
import { HubError } from '../../lib/errors.js'
import { lockAgencyForShare } from '../agencies/agencies.repository.js'
import { outboxChannel } from '../ledger/outbox.service.js'
import { retryRefusal, webhookRefusal } from './deliveries.core.js'
import * as repo from './deliveries.repository.js'
import type { DeliveryRetryAll } from './deliveries.schemas.js'
import { type DeliveryView, toDeliveryView } from './deliveries.service.js'

export interface RetryDeps {
  db: Kysely<Database>
  config: Pick<Config, 'databaseSchema'>
  /** Deliveries per transaction in the bulk form; {@link RETRY_BATCH} unless a test asks for fewer. */
  batchSize?: number
}

export interface RetryCaller {
  agencyId: string
  operator: boolean
  scopes: readonly string[]
  requestId: string
}

/** Deliveries retried per transaction by the bulk form: a long transaction holds back every inbox. */
const RETRY_BATCH = 500

/**
 * An operator acts on other agencies' deliveries with a token that carries `agencies:admin`, the
 * scope of its power over other agencies; with a narrower token it is an agency like any other.
 */
const actsForOthers = (caller: RetryCaller) => caller.operator && caller.scopes.includes('agencies:admin')

const notFound = () =>
  new HubError('TRM_NOT_FOUND', 'No delivery with this message id.', { pointer: '/params/messageId' })

/**
 * Sends a failed delivery again: in one transaction it is back to `pending`, a new webhook job is in
 * the outbox and the request is audited. For its own agency, or an operator; anyone else gets the
 * same 404 as for an unknown id. 409 when it is not `failed`, or its agency takes no webhooks now.
 */
export async function retryDelivery(
  deps: RetryDeps,
  caller: RetryCaller,
  messageId: string,
): Promise<DeliveryView> {
  const found = await repo.findDelivery(deps.db, messageId)
  if (!found || (found.agency_id !== caller.agencyId && !actsForOthers(caller))) throw notFound()
  return transact(deps.db, async (trx, afterCommit) => {
    // The agency first, as PATCH /v1/agencies/{id} locks it before it cancels pending deliveries.
    const agency = await lockAgencyForShare(trx, found.agency_id)
    const current = await repo.lockDelivery(trx, messageId)
    if (!agency || !current) throw notFound()
    const notFailed = retryRefusal(current.status)
    if (notFailed) throw new HubError('TRM_DELIVERY_NOT_FAILED', notFailed, { pointer: '/params/messageId' })
    const noWebhook = webhookRefusal(agency)
    if (noWebhook) throw new HubError('TRM_DELIVERY_NO_WEBHOOK', noWebhook, { pointer: '/params/messageId' })
    const [retried] = await repo.requeueFailed(
      trx,
      { agencyId: agency.id, messageId, limit: 1 },
      { actor: caller.agencyId, requestId: caller.requestId, bulk: false },
    )
    afterCommit.notify(outboxChannel(deps.config.databaseSchema), '')
    return toDeliveryView(retried!)
  })
}

/**
 * Sends every failed delivery of an agency (the caller's, or for an operator the one named) again,
 * each as {@link retryDelivery} does, in transactions of {@link RETRY_BATCH}. Each delivery is visited
 * once, in message id order, so one failing again meanwhile is not retried twice by one request. 409
 * when the agency takes no webhooks now; should it stop during the run, the rest stay `failed`.
 */
export async function retryFailedDeliveries(
  deps: RetryDeps,
  caller: RetryCaller,
  request: DeliveryRetryAll,
): Promise<{ retried: number }> {
  const agencyId = request.agencyId ?? caller.agencyId
  if (agencyId !== caller.agencyId && !actsForOthers(caller)) {
    throw new HubError(
      'TRM_AUTH_FORBIDDEN',
      caller.operator
        ? "Another agency's deliveries need a token with the scope agencies:admin."
        : "Only an operator may retry another agency's deliveries.",
      { pointer: '/agencyId' },
    )
  }
  const pointer = request.agencyId !== undefined ? '/agencyId' : ''
  const limit = deps.batchSize ?? RETRY_BATCH
  let retried = 0
  let afterId: string | undefined
  for (;;) {
    const first = afterId === undefined
    const batch = await transact(deps.db, async (trx, afterCommit) => {
      const agency = await lockAgencyForShare(trx, agencyId)
      if (!agency) throw new HubError('TRM_NOT_FOUND', 'No agency with this id.', { pointer })
      const noWebhook = webhookRefusal(agency)
      if (noWebhook && first) throw new HubError('TRM_DELIVERY_NO_WEBHOOK', noWebhook, { pointer })
      if (noWebhook) return []
      const rows = await repo.requeueFailed(
        trx,
        { agencyId, ...(afterId !== undefined ? { afterId } : {}), limit },
        { actor: caller.agencyId, requestId: caller.requestId, bulk: true },
      )
      if (rows.length > 0) afterCommit.notify(outboxChannel(deps.config.databaseSchema), '')
      return rows
    })
    retried += batch.length
    if (batch.length < limit) return { retried }
    afterId = batch.at(-1)!.message_id
  }
}
