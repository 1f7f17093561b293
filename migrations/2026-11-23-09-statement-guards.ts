import { type Kysely, sql } from 'kysely'

// Frozen in time: imports nothing from src/.
//
// A referral is stored by one statement (referral, inbox message, outbox rows and audit event in one
// INSERT ... WITH): one round trip instead of a transaction of fifteen. The checks that must hold at
// the moment of writing (the caller and its signing key still active, the recipient still active, no
// concurrent submission of the same document) run inside that statement through trm_require, which
// aborts the whole statement, and so writes nothing, with the refusal's code as the message and
// SQLSTATE TRM01 for the application to recognise.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function trm_require(ok boolean, code text) returns boolean
    language plpgsql volatile as $$
    begin
      if ok is not true then
        raise exception using errcode = 'TRM01', message = code;
      end if;
      return true;
    end
    $$
  `.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function trm_require(boolean, text)`.execute(db)
}
