import { type Kysely, sql } from 'kysely'

// Frozen in time: imports nothing from src/.
//
// The referral statement no longer aborts through trm_require (2026-11-23-09): its gate answers each
// submission's refusal as a value, so one refused submission never fails the others it is written
// with. Nothing calls the function any more.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`drop function if exists trm_require(boolean, text)`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
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
