import { type Kysely, sql } from 'kysely'

// Frozen in time: imports nothing from src/.
//
// Consent withdrawal that reaches every holder (issue 19, part 3):
//
// - referrals.consent_withdrawn: the scopes withdrawn (`all`, `law_enforcement`, `onward_sharing`),
//   written on every referral of the chain so that each link's own row answers the gates.
// - consent_withdrawals: one per signed `consent_withdrawn` acknowledgement, on the chain's first
//   referral, with its scope and the time by which each holder is to confirm.
// - consent_erasures: one per agency of the chain asked to erase (each sender and recipient, once),
//   with the referral of the chain its messages name, its confirmation, and its escalation to its
//   country's NCP when it did not confirm in time. The partial index holds only the open requests,
//   so the sweep reads what is due without scanning the confirmed ones.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table referrals add column consent_withdrawn text[] not null default '{}'`.execute(db)
  await sql`create table consent_withdrawals (
    id uuid constraint consent_withdrawals_pkey primary key references acknowledgements (id),
    referral_id uuid not null references referrals (id),
    withdrawn_by uuid not null references agencies (id),
    scope text not null check (scope in ('all', 'law_enforcement', 'onward_sharing')),
    withdrawn_at timestamptz not null,
    due_at timestamptz not null
  )`.execute(db)
  await sql`create index consent_withdrawals_referral on consent_withdrawals (referral_id)`.execute(db)
  await sql`create table consent_erasures (
    withdrawal_id uuid not null references consent_withdrawals (id),
    agency_id uuid not null references agencies (id),
    referral_id uuid not null references referrals (id),
    due_at timestamptz not null,
    confirmed_at timestamptz,
    confirmation_id uuid references acknowledgements (id),
    escalated_at timestamptz,
    escalated_to uuid references agencies (id),
    constraint consent_erasures_pkey primary key (withdrawal_id, agency_id)
  )`.execute(db)
  await sql`create index consent_erasures_open on consent_erasures (due_at)
    where confirmed_at is null and escalated_at is null`.execute(db)
  await sql`create index consent_erasures_agency on consent_erasures (agency_id, referral_id)`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table consent_erasures`.execute(db)
  await sql`drop table consent_withdrawals`.execute(db)
  await sql`alter table referrals drop column consent_withdrawn`.execute(db)
}
