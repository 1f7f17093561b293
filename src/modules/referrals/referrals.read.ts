import type { Kysely } from 'kysely'
import type { Static } from 'typebox'
import type { Config } from '../../config.js'
import { transact } from '../../db/after-commit.js'
import type { AcknowledgementRow, Database, ReferralRow } from '../../db/types.js'
import { decodeCursor, encodeCursor } from '../../lib/cursor.js'
import { HubError } from '../../lib/errors.js'
import type { HubKeys } from '../../lib/hub-keys.js'
import { oneOf, oneOfOrNull } from '../../lib/one-of.js'
import { AGENCY_KINDS } from '../agencies/agencies.schemas.js'
import { issueEvidence } from '../evidence/evidence.service.js'
import { type AuditEvent, recordAuditEvent } from '../ledger/audit.service.js'
import { consentWithdrawals } from './consent.read.js'
import { ACK_TYPES, CLOSE_OUTCOMES, DECLINE_REASONS, REFERRAL_STATUSES } from './lifecycle.core.js'
import { STAGES, URGENCIES } from './referral-document.schema.js'
import * as repo from './referrals.repository.js'
import type { AcknowledgementViewSchema, ReferralViewSchema } from './referrals.schemas.js'

export type AcknowledgementView = Static<typeof AcknowledgementViewSchema>

export type ReferralView = Static<typeof ReferralViewSchema>

export type PartyRole = 'sender' | 'recipient' | 'escalation'

/** How the agency relates to the referral; undefined means the referral does not exist for it. */
export async function partyRole(
  db: Kysely<Database>,
  row: ReferralRow,
  agencyId: string,
): Promise<PartyRole | undefined> {
  if (row.sender_id === agencyId) return 'sender'
  if (row.recipient_id === agencyId) return 'recipient'
  return (await repo.hasEscalation(db, row.id, agencyId)) ? 'escalation' : undefined
}

export const notFound = () =>
  new HubError('TRM_NOT_FOUND', 'No referral with this id.', { pointer: '/params/id' })

function toAcknowledgementView(row: AcknowledgementRow & { jws: string | null }): AcknowledgementView {
  return {
    id: row.id,
    type: oneOf(ACK_TYPES, row.type),
    authorId: row.author_id,
    reason: oneOfOrNull(DECLINE_REASONS, row.reason),
    outcome: oneOfOrNull(CLOSE_OUTCOMES, row.outcome),
    status: oneOf(REFERRAL_STATUSES, row.to_status),
    submittedAt: row.submitted_at.toISOString(),
    jws: row.jws,
    receipt: row.receipt,
  }
}

export function isOverdue(row: ReferralRow, now: Date): boolean {
  return row.received_at === null ? now >= row.ack_due_at : row.received_at > row.ack_due_at
}

function toSummary(row: ReferralRow, now: Date) {
  return {
    id: row.id,
    status: oneOf(REFERRAL_STATUSES, row.status),
    sender: { agencyId: row.sender_id, country: row.sender_country },
    recipient: { agencyId: row.recipient_id, country: row.recipient_country },
    victimReference: row.victim_reference,
    urgency: oneOf(URGENCIES, row.urgency),
    stage: oneOf(STAGES, row.stage),
    minor: row.minor,
    submittedAt: row.submitted_at.toISOString(),
    ackDueAt: row.ack_due_at.toISOString(),
    receivedAt: row.received_at?.toISOString() ?? null,
    overdue: isOverdue(row, now),
    erased: row.erased_at !== null,
    onwardOf: row.onward_of,
  }
}

/**
 * One referral for a party (the same 404 for a non-party as for a missing id); the read is audited,
 * and the recipient's first read issues `retrieval` evidence to the sender.
 * An operator, who may erase any referral, reads the skeleton of an erased one: what remains of it.
 */
export async function getReferral(
  deps: { db: Kysely<Database>; now: () => Date; hubKeys: HubKeys; config: Pick<Config, 'databaseSchema'> },
  id: string,
  caller: { id: string; operator: boolean },
  requestId: string,
): Promise<ReferralView> {
  const row = await repo.findReferral(deps.db, id)
  const party = row ? await partyRole(deps.db, row, caller.id) : undefined
  const role = party ?? (row?.erased_at && caller.operator ? 'operator' : undefined)
  if (!row || !role) throw notFound()
  const [jws, acknowledgements, linked, onward, withdrawals] = await Promise.all([
    repo.findReferralJws(deps.db, id),
    repo.listAcknowledgements(deps.db, id),
    repo.findLinked(deps.db, id, caller.id),
    repo.listOnward(deps.db, id),
    consentWithdrawals(deps.db, id),
  ])
  const read: AuditEvent = {
    actor: caller.id,
    action: 'referral.read',
    target: { type: 'referral', id },
    referralId: id,
    requestId,
    outcome: 'success',
    details: { role },
  }
  if (role === 'recipient') {
    // The recipient's first read gives the sender `retrieval` evidence, with the read's audit event.
    await transact(deps.db, async (trx, afterCommit) => {
      await recordAuditEvent(trx, read)
      await issueEvidence(trx, afterCommit, deps, { event: 'retrieval', referralIds: [id], requestId })
    })
  } else {
    await recordAuditEvent(deps.db, read)
  }
  return {
    ...toSummary(row, deps.now()),
    receipt: row.receipt,
    jws: jws ?? null,
    acknowledgements: acknowledgements.map(toAcknowledgementView),
    possibleDuplicates: linked.count,
    possibleDuplicateIds: linked.visibleIds,
    // The chain below: its agencies and states, to every party of this link; never a document.
    onward: onward.map((link) => ({
      id: link.id,
      onwardOf: link.onward_of,
      recipient: {
        agencyId: link.recipient_id,
        country: link.recipient_country,
        kind: oneOf(AGENCY_KINDS, link.recipient_kind),
      },
      createdAt: link.submitted_at.toISOString(),
      status: oneOf(REFERRAL_STATUSES, link.status),
    })),
    consentWithdrawals: withdrawals,
  }
}

const isSeqCursor = (v: Record<string, unknown>): v is { s: number } =>
  typeof v['s'] === 'number' && Number.isSafeInteger(v['s'])

export async function listReferrals(
  deps: { db: Kysely<Database>; now: () => Date },
  callerId: string,
  query: { role?: 'sent' | 'received'; status?: string; after?: string; limit?: number },
  requestId: string,
) {
  const limit = query.limit ?? 50
  const after = decodeCursor(query.after, isSeqCursor)
  const rows = await repo.listForParty(deps.db, {
    agencyId: callerId,
    ...(query.role ? { role: query.role } : {}),
    ...(query.status ? { status: query.status } : {}),
    ...(after ? { afterSeq: after.s } : {}),
    limit,
  })
  await recordAuditEvent(deps.db, {
    actor: callerId,
    action: 'referral.listed',
    target: { type: 'referral_list', id: callerId },
    requestId,
    outcome: 'success',
    details: { count: rows.length, role: query.role ?? 'any', status: query.status ?? 'any' },
  })
  const now = deps.now()
  const last = rows.at(-1)
  return {
    items: rows.map((row) => toSummary(row, now)),
    next: rows.length === limit && last ? encodeCursor({ s: last.seq }) : null,
  }
}
