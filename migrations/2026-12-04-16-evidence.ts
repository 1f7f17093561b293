import { type Kysely, sql } from 'kysely'

// Frozen in time: imports nothing from src/.
//
// Hub-signed evidence of what happened to a referral after its receipt (issue 19, after ETSI REM /
// e-CODEX evidences): `delivery`, `retrieval`, `non_delivery`, `non_retrieval`, each a compact JWS.
// The primary key makes "once per referral, event and recipient" a property of the table: writers
// insert ... on conflict do nothing. `message_id` is the sender's inbox message that carried it.
// Evidence holds no victim data (ids, a digest, a time) and is never changed or deleted: the
// application role may add and read it only.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table evidence (
    referral_id uuid not null references referrals (id),
    event text not null check (event in ('delivery', 'retrieval', 'non_delivery', 'non_retrieval')),
    recipient_id uuid not null references agencies (id),
    sender_id uuid not null references agencies (id),
    at timestamptz not null,
    jws text not null,
    message_id uuid not null,
    constraint evidence_pkey primary key (referral_id, event, recipient_id)
  )`.execute(db)
  // trm_app and its default grants come from 2026-11-22-03-audit-seal.
  await sql`revoke update, delete, truncate on evidence from trm_app`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('evidence').execute()
}
