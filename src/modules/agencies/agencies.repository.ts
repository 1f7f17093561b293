import type { Kysely } from 'kysely'
import { sql } from 'kysely'
import type { AgencyUpdate, Database, NewAgencyRow } from '../../db/types.js'

export async function insertAgency(db: Kysely<Database>, row: NewAgencyRow) {
  return db.insertInto('agencies').values(row).returningAll().executeTakeFirstOrThrow()
}

export async function insertKey(
  db: Kysely<Database>,
  row: { agency_id: string; kid: string; use: 'sig' | 'enc'; alg: string; jwk: string },
) {
  return db.insertInto('agency_keys').values(row).returningAll().executeTakeFirstOrThrow()
}

export function findAgency(db: Kysely<Database>, id: string) {
  return db.selectFrom('agencies').selectAll().where('id', '=', id).executeTakeFirst()
}

export function lockAgency(db: Kysely<Database>, id: string) {
  return db.selectFrom('agencies').selectAll().where('id', '=', id).forUpdate().executeTakeFirst()
}

/** Holds the agency as it is (no PATCH meanwhile) while the caller's transaction relies on it. */
export function lockAgencyForShare(db: Kysely<Database>, id: string) {
  return db.selectFrom('agencies').selectAll().where('id', '=', id).forShare().executeTakeFirst()
}

export function findNationalContactPoint(db: Kysely<Database>, country: string) {
  return db
    .selectFrom('agencies')
    .selectAll()
    .where('country', '=', country)
    .where('national_contact_point', '=', true)
    .executeTakeFirst()
}

export function listKeys(db: Kysely<Database>, agencyIds: string[]) {
  if (agencyIds.length === 0) return Promise.resolve([])
  return db
    .selectFrom('agency_keys')
    .selectAll()
    .where('agency_id', 'in', agencyIds)
    .orderBy('agency_id')
    .orderBy('created_at')
    .orderBy('kid')
    .execute()
}

export async function countKeys(db: Kysely<Database>, agencyId: string): Promise<number> {
  const row = await db
    .selectFrom('agency_keys')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('agency_id', '=', agencyId)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

export function findKey(db: Kysely<Database>, agencyId: string, kid: string) {
  return db
    .selectFrom('agency_keys')
    .selectAll()
    .where('agency_id', '=', agencyId)
    .where('kid', '=', kid)
    .executeTakeFirst()
}

export async function revokeKey(db: Kysely<Database>, agencyId: string, kid: string) {
  return db
    .updateTable('agency_keys')
    .set({ status: 'revoked', revoked_at: sql`coalesce(revoked_at, now())` })
    .where('agency_id', '=', agencyId)
    .where('kid', '=', kid)
    .returningAll()
    .executeTakeFirst()
}

export function listAgencies(
  db: Kysely<Database>,
  filter: {
    country?: string
    kind?: string
    nationalContactPoint?: boolean
    afterId?: string
    limit: number
  },
) {
  let query = db.selectFrom('agencies').selectAll().orderBy('id').limit(filter.limit)
  if (filter.country) query = query.where('country', '=', filter.country)
  if (filter.kind) query = query.where('kind', '=', filter.kind)
  if (filter.nationalContactPoint !== undefined) {
    query = query.where('national_contact_point', '=', filter.nationalContactPoint)
  }
  if (filter.afterId) query = query.where('id', '>', filter.afterId)
  return query.execute()
}

export async function updateAgency(db: Kysely<Database>, id: string, changes: AgencyUpdate) {
  return db
    .updateTable('agencies')
    .set({ ...changes, updated_at: sql`now()` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow()
}
