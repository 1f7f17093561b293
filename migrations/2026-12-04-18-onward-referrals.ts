import { type Kysely, sql } from 'kysely'

// Frozen in time: imports nothing from src/.
//
// Onward referral (issue 19, part 2): a recipient hands a case on with a new referral naming its
// parent in `onwardOf`. The submission statement checks the parent's consent scope and handling
// codes, which until now lived only inside the stored JWS; they become columns of the skeleton:
//
// - onward_of: the parent referral, or null for the first referral of a chain. A foreign key like
//   acknowledgements keep: an onward referral is rare, and its statement locks the parent anyway.
// - consent_scope, handling: the document's `consent.scope` and `handling` (empty when absent).
//
// Backfill: both are read from each referral's stored JWS (its payload, base64url JSON). A referral
// whose payload was erased or purged has nothing left to read: it keeps the empty lists, so it
// cannot be forwarded (no `onward_sharing`), which is the safe side.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table referrals
    add column onward_of uuid constraint referrals_onward_of_fkey references referrals (id),
    add column consent_scope text[] not null default '{}',
    add column handling text[] not null default '{}'`.execute(db)
  await sql`create index referrals_onward_of on referrals (onward_of) where onward_of is not null`.execute(db)

  await sql`update referrals r set
      consent_scope = coalesce(array(select jsonb_array_elements_text(d.document->'consent'->'scope')), '{}'),
      handling = coalesce(array(select jsonb_array_elements_text(
        case when jsonb_typeof(d.document->'handling') = 'array' then d.document->'handling' else '[]' end)), '{}')
    from (
      select p.referral_id, convert_from(decode(rpad(translate(part, '-_', '+/'),
        (length(part) + 3) / 4 * 4, '='), 'base64'), 'UTF8')::jsonb as document
      from referral_payloads p cross join lateral split_part(p.jws, '.', 2) as part
    ) d
    where d.referral_id = r.id`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table referrals drop column onward_of, drop column consent_scope,
    drop column handling`.execute(db)
}
