import type { Kysely } from 'kysely'
import type { Config } from '../../config.js'
import type { AfterCommit } from '../../db/after-commit.js'
import type { Database } from '../../db/types.js'
import { HubError } from '../../lib/errors.js'
import { recordAuditEvent } from '../ledger/audit.service.js'
import { deliverToInbox } from '../ledger/inbox.service.js'
import {
  type ChainLink,
  confirmErasures,
  insertErasureRequests,
  insertWithdrawal,
  listChain,
  listOpenErasures,
  lockChain,
  markConsentWithdrawn,
} from '../referrals/consent.repository.js'
import type { ConsentScopeWithdrawn } from '../referrals/lifecycle.core.js'
import { purgePayloads } from '../retention/retention.repository.js'

export interface ConsentContext {
  db: Kysely<Database>
  afterCommit: AfterCommit
  config: Pick<Config, 'databaseSchema' | 'consentErasureDeadlineSeconds'>
  callerId: string
  referralId: string
  requestId: string
  at: Date
}

/** The first referral of a chain: its sender recorded the consent, and only it withdraws it. */
export function chainRoot(chain: readonly ChainLink[]): ChainLink {
  const root = chain.find((link) => link.onward_of === null)
  if (!root) throw new Error('a chain without a first referral')
  return root
}

/** Each agency of the chain once (senders and recipients), with the first referral of it it is party to. */
export function chainHolders(chain: readonly ChainLink[]): { agencyId: string; referralId: string }[] {
  const holders = new Map<string, string>()
  for (const link of chain) {
    for (const agencyId of [link.sender_id, link.recipient_id]) {
      if (!holders.has(agencyId)) holders.set(agencyId, link.id)
    }
  }
  return [...holders].map(([agencyId, referralId]) => ({ agencyId, referralId }))
}

/**
 * Before a `consent_withdrawn` is stored: only the agency that recorded the consent (the sender of
 * the chain's first referral, on that referral) withdraws it; the chain is locked and every payload
 * the hub holds for it (each referral's JWS with its `sensitive` JWE, each acknowledgement's JWS) is
 * erased, as `POST /v1/referrals/{id}/erasure` erases one referral's.
 */
export async function eraseChainForWithdrawal(ctx: ConsentContext): Promise<ChainLink[]> {
  let chain = await listChain(ctx.db, ctx.referralId)
  const root = chainRoot(chain)
  if (root.id !== ctx.referralId || root.sender_id !== ctx.callerId) {
    throw new HubError(
      'TRM_AUTH_FORBIDDEN',
      "Only the agency that recorded the consent (the sender of the chain's first referral) withdraws " +
        'it, on that first referral.',
      { pointer: '/type' },
    )
  }
  // A link written between the listing and the locks is listed again; once the chain is locked, a
  // new onward referral waits for this transaction (its parent is locked) and then sees the withdrawal.
  for (;;) {
    await lockChain(
      ctx.db,
      chain.map((link) => link.id),
    )
    const again = await listChain(ctx.db, ctx.referralId)
    if (again.length === chain.length) break
    chain = again
  }
  for (const link of chain) {
    await purgePayloads(ctx.db, link.id, ctx.at)
    await recordAuditEvent(ctx.db, {
      actor: ctx.callerId,
      action: 'referral.erased',
      target: { type: 'referral', id: link.id },
      referralId: link.id,
      requestId: ctx.requestId,
      outcome: 'success',
      details: { reason: 'consent_withdrawn' },
    })
  }
  return chain
}

/**
 * After the `consent_withdrawn` acknowledgement is stored: the scope is marked withdrawn on every
 * referral of the chain, every agency of it gets one `consent_withdrawn` message (on the referral of
 * the chain it is party to, so it learns nothing of links it is not in but the agencies) and one
 * erasure request due in CONSENT_ERASURE_DEADLINE_SECONDS.
 */
export async function recordWithdrawal(
  ctx: ConsentContext,
  chain: readonly ChainLink[],
  withdrawal: { id: string; scope: ConsentScopeWithdrawn },
): Promise<void> {
  const dueAt = new Date(ctx.at.getTime() + ctx.config.consentErasureDeadlineSeconds * 1000)
  const holders = chainHolders(chain)
  await insertWithdrawal(ctx.db, {
    id: withdrawal.id,
    referral_id: ctx.referralId,
    withdrawn_by: ctx.callerId,
    scope: withdrawal.scope,
    withdrawn_at: ctx.at,
    due_at: dueAt,
  })
  await insertErasureRequests(
    ctx.db,
    holders.map((h) => ({
      withdrawal_id: withdrawal.id,
      agency_id: h.agencyId,
      referral_id: h.referralId,
      due_at: dueAt,
    })),
  )
  await markConsentWithdrawn(
    ctx.db,
    chain.map((link) => link.id),
    withdrawal.scope,
  )
  const body = {
    withdrawalId: withdrawal.id,
    scope: withdrawal.scope,
    withdrawnBy: ctx.callerId,
    withdrawnAt: ctx.at.toISOString(),
    confirmBy: dueAt.toISOString(),
  }
  for (const holder of holders) {
    await deliverToInbox(ctx.db, ctx.afterCommit, ctx.config, {
      agencyId: holder.agencyId,
      type: 'consent_withdrawn',
      referralId: holder.referralId,
      body,
    })
  }
  await recordAuditEvent(ctx.db, {
    actor: ctx.callerId,
    action: 'consent.withdrawn',
    target: { type: 'acknowledgement', id: withdrawal.id },
    referralId: ctx.referralId,
    requestId: ctx.requestId,
    outcome: 'success',
    details: { scope: withdrawal.scope, referrals: chain.length, holders: holders.length },
  })
}

/** Before an `erasure_confirmed` is stored: the erasure requests it answers (409 when none is open). */
export async function openErasuresOf(ctx: ConsentContext) {
  const chain = await listChain(ctx.db, ctx.referralId)
  const open = await listOpenErasures(ctx.db, chainRoot(chain).id, ctx.callerId)
  if (open.length === 0) {
    throw new HubError(
      'TRM_INVALID_TRANSITION',
      'No consent withdrawal asks this agency to erase this case, or it confirmed already.',
      { pointer: '/type' },
    )
  }
  return open
}

/** After the `erasure_confirmed` is stored: the requests are confirmed and the withdrawer is told. */
export async function recordConfirmation(
  ctx: ConsentContext,
  open: Awaited<ReturnType<typeof openErasuresOf>>,
  confirmationId: string,
): Promise<void> {
  await confirmErasures(
    ctx.db,
    ctx.callerId,
    open.map((e) => e.withdrawal_id),
    { id: confirmationId, at: ctx.at },
  )
  for (const erasure of open) {
    if (erasure.withdrawn_by === ctx.callerId) continue
    await deliverToInbox(ctx.db, ctx.afterCommit, ctx.config, {
      agencyId: erasure.withdrawn_by,
      type: 'erasure_confirmed',
      referralId: erasure.root_id,
      body: {
        withdrawalId: erasure.withdrawal_id,
        agencyId: ctx.callerId,
        confirmedAt: ctx.at.toISOString(),
      },
    })
  }
  await recordAuditEvent(ctx.db, {
    actor: ctx.callerId,
    action: 'consent.erasure_confirmed',
    target: { type: 'acknowledgement', id: confirmationId },
    referralId: ctx.referralId,
    requestId: ctx.requestId,
    outcome: 'success',
    details: { withdrawals: open.length },
  })
}
