import { type Kysely, sql } from 'kysely'

// Frozen in time: imports nothing from src/.
//
// UUIDv7 (RFC 9562: 48-bit Unix milliseconds, then random bits) generated inside a statement, for
// rows a statement creates for other rows it finds (a status message for each referral a
// confirmation delivers): ids stay time-ordered like the application's own UUIDv7s. The version
// nibble of gen_random_uuid's 4 (0100) becomes 7 (0111) by setting bits 52 and 53.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function trm_uuid_v7() returns uuid
    language sql volatile as $$
      select encode(
        set_bit(set_bit(
          overlay(uuid_send(gen_random_uuid())
            placing substring(int8send(floor(extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
            from 1 for 6),
          52, 1), 53, 1),
        'hex')::uuid
    $$
  `.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function trm_uuid_v7()`.execute(db)
}
