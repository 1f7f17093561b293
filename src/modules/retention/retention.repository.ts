import { type Kysely, sql } from 'kysely'
import type { Database } from '../../db/types.js'

/**
 * Removes every copy of a referral's signed payloads the hub holds: the referral's JWS (with its
 * `sensitive` JWE inside), its linkage token and the acknowledgements' JWS (inbox messages show
 * these, they hold no copy). Keeps the skeleton (ids, parties, triage columns, states, times,
 * digests, receipts). The deleted rows stay in the payload tables' files until the compaction
 * rewrites them (compaction.service.ts): each table that lost a row is marked due for it, in the
 * same statement, after its rows are deleted (so after its lock, never before).
 */
export async function purgePayloads(db: Kysely<Database>, referralId: string, at: Date): Promise<void> {
  await db
    .updateTable('referrals')
    .set({ erased_at: at, updated_at: sql`now()` })
    .where('id', '=', referralId)
    .execute()
  await db
    .updateTable('acknowledgements')
    .set({ erased_at: at })
    .where('referral_id', '=', referralId)
    .execute()
  await sql`
    with referral as (delete from referral_payloads
      where referral_seq = (select seq from referrals where id = ${referralId}) returning 1),
    acknowledgement as (delete from acknowledgement_payloads where referral_id = ${referralId} returning 1),
    linkage as (delete from linkage_tokens where referral_id = ${referralId} returning 1),
    erased (table_name, erasures) as (
      select 'referral_payloads', count(*) from referral
      union all select 'acknowledgement_payloads', count(*) from acknowledgement
      union all select 'linkage_tokens', count(*) from linkage
    )
    insert into compaction_due (table_name, erasures, last_xid)
    select table_name, erasures, pg_current_xact_id() from erased where erasures > 0
    on conflict (table_name) do update
      set erasures = compaction_due.erasures + excluded.erasures,
        last_xid = greatest(compaction_due.last_xid, excluded.last_xid)
  `.execute(db)
}

/** Terminal referrals past the retention period that still hold a payload, oldest first. */
export function listExpired(db: Kysely<Database>, terminalBefore: Date, limit: number) {
  return db
    .selectFrom('referrals')
    .select(['id', 'status', 'terminal_at'])
    .where('terminal_at', '<', terminalBefore)
    .where('erased_at', 'is', null)
    .where('status', 'in', ['closed', 'declined', 'withdrawn'])
    .orderBy('terminal_at')
    .orderBy('id')
    .limit(limit)
    .execute()
}
