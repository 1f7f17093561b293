import { type Kysely, sql } from 'kysely'
import type { Database } from '../../db/types.js'

/** One referral of a chain: its parties and its parent (null for the chain's first). */
export interface ChainLink {
  id: string
  sender_id: string
  recipient_id: string
  onward_of: string | null
  consent_withdrawn: string[]
}

/**
 * Every referral of the chain the referral belongs to, first referral first: up the `onward_of`
 * links to the referral that has none, then down again to every onward referral of it.
 */
export async function listChain(db: Kysely<Database>, referralId: string): Promise<ChainLink[]> {
  // `union` (not `union all`): a referral met twice is kept once, so the walk ends on any shape.
  const { rows } = await sql<ChainLink>`
    with recursive up (id, onward_of) as (
      select id, onward_of from referrals where id = ${referralId}
      union
      select p.id, p.onward_of from referrals p join up on p.id = up.onward_of
    ),
    chain (id) as (
      select id from up where onward_of is null
      union
      select r.id from referrals r join chain on r.onward_of = chain.id
    )
    select r.id, r.sender_id, r.recipient_id, r.onward_of, r.consent_withdrawn
    from referrals r join chain using (id)
    order by r.seq`.execute(db)
  return rows
}

/** Locks the chain's referrals, in id order (every locker takes them in the same order). */
export async function lockChain(db: Kysely<Database>, ids: readonly string[]) {
  await db
    .selectFrom('referrals')
    .select('id')
    .where('id', 'in', [...ids])
    .orderBy('id')
    .forUpdate()
    .execute()
}

/** Adds a withdrawn scope to every referral of the chain. */
export async function markConsentWithdrawn(db: Kysely<Database>, ids: readonly string[], scope: string) {
  await sql`update referrals set consent_withdrawn = array_append(consent_withdrawn, ${scope}::text),
      updated_at = now()
    where id = any (${[...ids]}::uuid[]) and not (${scope}::text = any (consent_withdrawn))`.execute(db)
}

export async function insertWithdrawal(
  db: Kysely<Database>,
  row: {
    id: string
    referral_id: string
    withdrawn_by: string
    scope: string
    withdrawn_at: Date
    due_at: Date
  },
) {
  await db.insertInto('consent_withdrawals').values(row).execute()
}

export async function insertErasureRequests(
  db: Kysely<Database>,
  rows: { withdrawal_id: string; agency_id: string; referral_id: string; due_at: Date }[],
) {
  if (rows.length > 0) await db.insertInto('consent_erasures').values(rows).execute()
}

/** The agency's unconfirmed erasure requests from withdrawals on the chain's first referral. */
export function listOpenErasures(db: Kysely<Database>, rootId: string, agencyId: string) {
  return db
    .selectFrom('consent_erasures as e')
    .innerJoin('consent_withdrawals as w', 'w.id', 'e.withdrawal_id')
    .select(['e.withdrawal_id', 'e.referral_id', 'w.withdrawn_by', 'w.referral_id as root_id'])
    .where('w.referral_id', '=', rootId)
    .where('e.agency_id', '=', agencyId)
    .where('e.confirmed_at', 'is', null)
    .forUpdate('e')
    .execute()
}

export async function confirmErasures(
  db: Kysely<Database>,
  agencyId: string,
  withdrawalIds: readonly string[],
  confirmation: { id: string; at: Date },
) {
  if (withdrawalIds.length === 0) return
  await db
    .updateTable('consent_erasures')
    .set({ confirmed_at: confirmation.at, confirmation_id: confirmation.id })
    .where('agency_id', '=', agencyId)
    .where('withdrawal_id', 'in', [...withdrawalIds])
    .where('confirmed_at', 'is', null)
    .execute()
}

/** Withdrawals on the chain's first referral and every holder's answer, oldest first. */
export async function listWithdrawals(db: Kysely<Database>, rootId: string) {
  const withdrawals = await db
    .selectFrom('consent_withdrawals')
    .selectAll()
    .where('referral_id', '=', rootId)
    .orderBy('withdrawn_at')
    .orderBy('id')
    .execute()
  if (withdrawals.length === 0) return []
  const erasures = await db
    .selectFrom('consent_erasures')
    .select(['withdrawal_id', 'agency_id', 'confirmed_at', 'escalated_at'])
    .where(
      'withdrawal_id',
      'in',
      withdrawals.map((w) => w.id),
    )
    .orderBy('agency_id')
    .execute()
  return withdrawals.map((w) => ({ ...w, erasures: erasures.filter((e) => e.withdrawal_id === w.id) }))
}

/**
 * Marks escalated up to `limit` open erasure requests past their due time (oldest first; rows another
 * sweep holds are skipped), each with its holder's national contact point when the country has an
 * active one other than the holder itself. Returns what this call marked, so each is escalated once.
 */
export async function claimOverdueErasures(db: Kysely<Database>, now: Date, limit: number) {
  const { rows } = await sql<{
    withdrawal_id: string
    agency_id: string
    referral_id: string
    due_at: Date
    escalated_to: string | null
  }>`
    with due as (
      select withdrawal_id, agency_id from consent_erasures
      where confirmed_at is null and escalated_at is null and due_at <= ${now}
      order by due_at, withdrawal_id, agency_id
      limit ${limit}
      for update skip locked
    )
    update consent_erasures e set escalated_at = ${now}, escalated_to = (
      select n.id from agencies h
      join agencies n on n.country = h.country and n.national_contact_point and n.status = 'active'
        and n.id <> h.id
      where h.id = e.agency_id
      limit 1
    )
    from due where e.withdrawal_id = due.withdrawal_id and e.agency_id = due.agency_id
    returning e.withdrawal_id, e.agency_id, e.referral_id, e.due_at, e.escalated_to`.execute(db)
  return rows
}
