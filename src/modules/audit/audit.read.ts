import type { Kysely } from 'kysely'
import type { Database } from '../../db/types.js'
import { decodeCursor, encodeCursor } from '../../lib/cursor.js'
import { recordAuditEvent } from '../ledger/audit.service.js'
import { notFound, partyRole } from '../referrals/referrals.read.js'
import { findReferral } from '../referrals/referrals.repository.js'
import { latestTreeCheckpoint } from './audit.log.js'
import * as repo from './audit.repository.js'
import { type AuditListQuery, MAX_TRAIL_EVENTS } from './audit.schemas.js'
import { base64, type LeafEvent, toLeafEvent } from './audit.service.js'
import type { TreeReader } from './tree.reader.js'

const isSeqCursor = (v: Record<string, unknown>): v is { s: number } =>
  typeof v['s'] === 'number' && Number.isSafeInteger(v['s'])

/**
 * Sealed events by leaf index: all of them for an operator; for an agency those it caused and those about
 * referrals it is party to. The listing is itself audited.
 */
export async function listAuditEvents(
  deps: { db: Kysely<Database> },
  caller: { id: string; operator: boolean },
  query: AuditListQuery,
  requestId: string,
): Promise<{ items: LeafEvent[]; next: string | null }> {
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
    items: rows.map(toLeafEvent),
    next: rows.length === limit && last ? encodeCursor({ s: last.index + 1 }) : null,
  }
}

/**
 * The sealed trail of one referral for a party (the same 404 as GET /v1/referrals/{id} for anyone
 * else): each event with its leaf index, leaf hash and inclusion proof against the latest checkpoint
 * (returned with it), and how many events still wait for the sealer.
 */
export async function referralAuditTrail(
  deps: { db: Kysely<Database>; tree: TreeReader },
  referralId: string,
  callerId: string,
  requestId: string,
) {
  const referral = await findReferral(deps.db, referralId)
  const role = referral ? await partyRole(deps.db, referral, callerId) : undefined
  if (!referral || !role) throw notFound()
  // The checkpoint first: every event listed after it is a leaf of its tree or of a later one.
  const checkpoint = await latestTreeCheckpoint(deps.db)
  const [all, pending] = await Promise.all([
    repo.listSealed(deps.db, { referralId, limit: MAX_TRAIL_EVENTS }),
    repo.countUnsealedForReferral(deps.db, referralId),
  ])
  const size = checkpoint?.size ?? 0
  const rows = all.filter((r) => r.index < size)
  const proofs: Uint8Array[][] = []
  for (const r of rows) proofs.push(await deps.tree.inclusionProof(r.index, size))
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
    events: rows.map((r, n) => ({ ...toLeafEvent(r), proof: proofs[n]!.map(base64) })),
    checkpoint: checkpoint ?? null,
    pending: pending + all.length - rows.length,
  }
}
