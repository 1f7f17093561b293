import type { Insertable, Kysely } from 'kysely'
import type { AcknowledgementsTable, Database } from '../../db/types.js'

type NewAcknowledgement = Insertable<AcknowledgementsTable>

export async function insertAcknowledgement(db: Kysely<Database>, row: NewAcknowledgement) {
  return db.insertInto('acknowledgements').values(row).returningAll().executeTakeFirstOrThrow()
}

/** The acknowledgement's JWS as received, in the table erasure rewrites (not the skeleton's). */
export async function insertAcknowledgementPayload(
  db: Kysely<Database>,
  row: { referral_id: string; acknowledgement_id: string; jws: string },
) {
  await db.insertInto('acknowledgement_payloads').values(row).execute()
}

export function findAcknowledgement(db: Kysely<Database>, id: string) {
  return db.selectFrom('acknowledgements').selectAll().where('id', '=', id).executeTakeFirst()
}

export async function countAcknowledgements(db: Kysely<Database>, referralId: string): Promise<number> {
  const row = await db
    .selectFrom('acknowledgements')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('referral_id', '=', referralId)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}
