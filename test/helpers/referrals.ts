import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { ReferralDocument } from '../../src/modules/referrals/referral-document.schema.js'
import type { TestAgency } from './agencies.js'

/** An invented, obviously fake referral document: nothing in it identifies anyone. */
export function referralDocument(
  sender: TestAgency,
  recipient: ReferralDocument['recipient'],
  overrides: Partial<ReferralDocument> = {},
): ReferralDocument {
  return {
    id: randomUUID(),
    sender: sender.id,
    recipient,
    createdAt: new Date().toISOString(),
    urgency: 'urgent',
    stage: 'first_assistance',
    victim: {
      status: 'presumed',
      ageGroup: '21-23',
      minor: false,
      gender: 'female',
      citizenship: ['RO'],
      languages: ['ro'],
    },
    exploitation: { forms: ['forced_labour'], countries: ['DE'], identifiedIn: 'DE' },
    needs: ['accommodation', 'psychological'],
    consent: {
      status: 'given',
      scope: ['assistance'],
      recordedAt: new Date().toISOString(),
      byGuardian: false,
    },
    ...overrides,
  }
}

/** Row counts of everything a submission writes, to prove a refusal wrote nothing. */
export async function writeCounts(app: FastifyInstance) {
  const count = async (table: 'referrals' | 'inbox_messages' | 'outbox' | 'acknowledgements') =>
    Number(
      (
        await app.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    )
  const audit = await app.db
    .selectFrom('audit_events')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('action', 'in', ['referral.submitted', 'acknowledgement.submitted'])
    .executeTakeFirstOrThrow()
  return {
    referrals: await count('referrals'),
    inbox: await count('inbox_messages'),
    outbox: await count('outbox'),
    acknowledgements: await count('acknowledgements'),
    audit: Number(audit.n),
  }
}
