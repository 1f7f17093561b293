import type { Kysely } from 'kysely'
import type { Database } from '../../db/types.js'

type NewAcknowledgement = {
  id: string
  referral_id: string
  author_id: string
  type: string
  reason: string | null
  outcome: string | null
  from_status: string
  to_status: string
  jws: string
  payload_sha256: string
  receipt: string
  submitted_at: Date
}

export async function insertAcknowledgement(db: Kysely<Database>, row: NewAcknowledgement) {
  return db.insertInto('acknowledgements').values(row).returningAll().executeTakeFirstOrThrow()
}

export function findAcknowledgement(db: Kysely<Database>, id: string) {
  return db.selectFrom('acknowledgements').selectAll().where('id', '=', id).executeTakeFirst()
}
