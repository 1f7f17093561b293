import { type Kysely, sql } from 'kysely'

/** True when Postgres answers a trivial query within the pool's connection timeout. */
export async function pingDatabase(db: Kysely<any>): Promise<boolean> {
  try {
    await sql`select 1`.execute(db)
    return true
  } catch {
    return false
  }
}
