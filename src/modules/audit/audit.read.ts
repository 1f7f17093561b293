import type { Kysely } from 'kysely'
import type { AuditCheckpointRow, Database } from '../../db/types.js'
import { decodeCursor, encodeCursor } from '../../lib/cursor.js'
import { HubError } from '../../lib/errors.js'
import { recordAuditEvent } from '../ledger/audit.service.js'
import { notFound, partyRole } from '../referrals/referrals.read.js'
import { findReferral } from '../referrals/referrals.repository.js'
import type { SealedEvent } from './audit.core.js'
import * as repo from './audit.repository.js'
import { type AuditListQuery, MAX_TRAIL_EVENTS } from './audit.schemas.js'
import { toSealedEvent } from './audit.service.js'

export interface CheckpointView {
  seq: number
  hash: string
  at: string
  jws: string
}

const toCheckpointView = (row: AuditCheckpointRow): CheckpointView => ({
  seq: row.seq,
  hash: row.hash,
  at: row.at.toISOString(),
  jws: row.jws,
})

const isSeqCursor = (v: Record<string, unknown>): v is { s: number } =>
  typeof v['s'] === 'number' && Number.isSafeInteger(v['s'])

/**
 * Sealed events by seq: all of them for an operator; for an agency those it caused and those about
 * referrals it is party to. The listing is itself audited.
 */
export async function listAuditEvents(
  deps: { db: Kysely<Database> },
  caller: { id: string; operator: boolean },
  query: AuditListQuery,
  requestId: string,
): Promise<{ items: SealedEvent[]; next: string | null }> {
  const limit = query.limit ?? 50
  const after = decodeCursor(query.after, isSeqCursor)
  const rows = await repo.listSealed(deps.db, {
    ...(after ? { afterSeq: after.s } : {}),
    ...(query.referralId ? { referralId: query.referralId } : {}),
    ...(query.action ? { action: query.action } : {}),
    ...(caller.operator ? {} : { visibleTo: caller.id }),
    limit,
  })
  await recordAuditEvent(deps.db, {
    actor: caller.id,
    action: 'audit.listed',
    target: { type: 'audit_log', id: caller.id },
    requestId,
    outcome: 'success',
    details: {
      count: rows.length,
      referralId: query.referralId ?? null,
      action: query.action ?? null,
      scope: caller.operator ? 'all' : 'party',
    },
  })
  const last = rows.at(-1)
  return {
    items: rows.map(toSealedEvent),
    next: rows.length === limit && last ? encodeCursor({ s: last.seq }) : null,
  }
}

/** The newest signed checkpoint: the head of the chain anyone can hold the hub to. */
export async function latestCheckpoint(deps: { db: Kysely<Database> }): Promise<CheckpointView> {
  const row = await repo.findLatestCheckpoint(deps.db)
  if (!row) throw new HubError('TRM_NOT_FOUND', 'No audit checkpoint has been signed yet.')
  return toCheckpointView(row)
}

/**
 * The sealed trail of one referral for a party (the same 404 as GET /v1/referrals/{id} for anyone
 * else), with the checkpoint that covers its last event and how many events still wait for the sealer.
 */
export async function referralAuditTrail(
  deps: { db: Kysely<Database> },
  referralId: string,
  callerId: string,
  requestId: string,
) {
  const referral = await findReferral(deps.db, referralId)
  const role = referral ? await partyRole(deps.db, referral, callerId) : undefined
  if (!referral || !role) throw notFound()
  const [rows, pending] = await Promise.all([
    repo.listSealed(deps.db, { referralId, limit: MAX_TRAIL_EVENTS }),
    repo.countUnsealedForReferral(deps.db, referralId),
  ])
  const last = rows.at(-1)
  const checkpoint = last ? await repo.findCheckpointCovering(deps.db, last.seq) : undefined
  await recordAuditEvent(deps.db, {
    actor: callerId,
    action: 'referral.audit_read',
    target: { type: 'referral', id: referralId },
    referralId,
    requestId,
    outcome: 'success',
    details: { role, events: rows.length },
  })
  return {
    referralId,
    events: rows.map(toSealedEvent),
    checkpoint: checkpoint ? toCheckpointView(checkpoint) : null,
    pending,
  }
}
