import { type Kysely, sql } from 'kysely'
import type { Database, NewReferralRow } from '../../db/types.js'

export async function insertReferral(db: Kysely<Database>, row: NewReferralRow) {
  return db.insertInto('referrals').values(row).returningAll().executeTakeFirstOrThrow()
}

export function findReferral(db: Kysely<Database>, id: string) {
  return db.selectFrom('referrals').selectAll().where('id', '=', id).executeTakeFirst()
}

export function lockReferral(db: Kysely<Database>, id: string) {
  return db.selectFrom('referrals').selectAll().where('id', '=', id).forUpdate().executeTakeFirst()
}

/**
 * Transaction-scoped advisory lock on one (sender, id): a concurrent submission of the same referral
 * learns at once that it is in flight instead of queueing behind it. False when another holds it.
 */
export async function tryLockSubmission(
  db: Kysely<Database>,
  senderId: string,
  id: string,
): Promise<boolean> {
  const { rows } = await sql<{
    ok: boolean
  }>`select pg_try_advisory_xact_lock(hashtextextended(${`referral:${senderId}:${id}`}, 0)) as ok`.execute(db)
  return rows[0]?.ok === true
}

/** True when the reference belongs to a referral the agency sent or received. */
export async function isReferenceKnownTo(db: Kysely<Database>, reference: string, agencyId: string) {
  const row = await db
    .selectFrom('referrals')
    .select('id')
    .where('victim_reference', '=', reference)
    .where((eb) => eb.or([eb('sender_id', '=', agencyId), eb('recipient_id', '=', agencyId)]))
    .limit(1)
    .executeTakeFirst()
  return row !== undefined
}

/** Other referrals with the same linkage token: how many in all, and the ids of those the agency is party to. */
export async function findLinked(db: Kysely<Database>, token: string, exceptId: string, agencyId: string) {
  const rows = await db
    .selectFrom('referrals')
    .select(['id', 'sender_id', 'recipient_id'])
    .where('linkage_token', '=', token)
    .where('id', '!=', exceptId)
    .orderBy('seq')
    .limit(1000)
    .execute()
  return {
    count: rows.length,
    visibleIds: rows.filter((r) => r.sender_id === agencyId || r.recipient_id === agencyId).map((r) => r.id),
  }
}

export function listForParty(
  db: Kysely<Database>,
  filter: { agencyId: string; role?: 'sent' | 'received'; status?: string; afterSeq?: number; limit: number },
) {
  let query = db.selectFrom('referrals').selectAll().orderBy('seq').limit(filter.limit)
  if (filter.role === 'sent') query = query.where('sender_id', '=', filter.agencyId)
  else if (filter.role === 'received') query = query.where('recipient_id', '=', filter.agencyId)
  else {
    query = query.where((eb) =>
      eb.or([eb('sender_id', '=', filter.agencyId), eb('recipient_id', '=', filter.agencyId)]),
    )
  }
  if (filter.status) query = query.where('status', '=', filter.status)
  if (filter.afterSeq !== undefined) query = query.where('seq', '>', filter.afterSeq)
  return query.execute()
}

export function listAcknowledgements(db: Kysely<Database>, referralId: string) {
  return db
    .selectFrom('acknowledgements')
    .selectAll()
    .where('referral_id', '=', referralId)
    .orderBy('seq')
    .execute()
}

/** True when the agency received an escalation for the referral (a national contact point's view). */
export async function hasEscalation(db: Kysely<Database>, referralId: string, agencyId: string) {
  const row = await db
    .selectFrom('inbox_messages')
    .select('id')
    .where('referral_id', '=', referralId)
    .where('agency_id', '=', agencyId)
    .where('type', '=', 'escalation')
    .limit(1)
    .executeTakeFirst()
  return row !== undefined
}

export async function updateReferral(
  db: Kysely<Database>,
  id: string,
  changes: {
    status?: string
    received_at?: Date
    terminal_at?: Date
    escalated_at?: Date
    erased_at?: Date
    jws?: null
  },
) {
  return db
    .updateTable('referrals')
    .set({ ...changes, updated_at: sql`now()` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow()
}
