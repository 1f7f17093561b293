// bench/lib/seed.ts writes what the hub stores for a referral submitted and acknowledged as
// received: the hub reads the seeded rows as its own, no inbox has anything waiting, the seeded audit
// events verify as part of the chain, and the hub keeps writing on top of them.
import pg from 'pg'
import t from 'tap'
import { schemaMismatches, seedReferrals } from '../../bench/lib/seed.js'
import { signReferral } from '../../src/sdk/documents.js'
import { addAgency } from '../helpers/agencies.js'
import { seal, verify } from '../helpers/audit.js'
import { buildTestApp } from '../helpers/build-app.js'
import { DATABASE_URL } from '../helpers/env.js'
import { referralDocument } from '../helpers/referrals.js'

type Tap = { teardown: (fn: () => unknown) => void }

async function seedClient(t: Tap): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: DATABASE_URL })
  await client.connect()
  t.teardown(() => client.end())
  return client
}

t.test(
  'seeded referrals read as the hub’s own, with nothing waiting, and the audit chain verifies',
  async (t) => {
    const { app, config } = await buildTestApp(t)
    const senders = [await addAgency(app, { country: 'RO' }), await addAgency(app, { country: 'BG' })]
    const recipients = [
      await addAgency(app, { kind: 'national_agency', country: 'DE', ncp: true }),
      await addAgency(app, { kind: 'national_agency', country: 'AT', ncp: true }),
    ]
    const client = await seedClient(t)
    await seedReferrals(client, {
      schema: config.databaseSchema!,
      count: 250,
      batch: 100,
      senders,
      recipients,
    })

    const count = async (from: string) =>
      Number((await client.query<{ n: string }>(`select count(*) as n from ${from}`)).rows[0]!.n)
    t.equal(await count(`referrals where status = 'received' and received_at < ack_due_at`), 250)
    t.equal(await count('referral_payloads'), 250)
    t.equal(await count(`acknowledgements where type = 'received'`), 250)
    t.equal(await count('acknowledgement_payloads'), 250)
    t.equal(await count(`inbox_messages where confirmed_at is not null`), 500, 'every message confirmed')
    t.equal(await count(`inbox_messages where confirmed_at is null`), 0)
    t.equal(await count(`outbox where queue = 'deadlines' and relayed_at is not null`), 250)
    t.equal(await count(`outbox where relayed_at is null`), 0, 'no job waits for the relay')
    t.equal(await count(`audit_events where referral_id is not null and seq is not null`), 500)

    // The agencies' registrations were recorded before the seed and are still unsealed: sealing them
    // chains them after the seeded events and signs the checkpoint that covers the whole chain.
    await seal(app)
    const chain = await verify(app)
    t.ok(chain.intact, `the chain verifies: ${JSON.stringify(chain.break)}`)
    t.ok(chain.events >= 504, `every event verified (${chain.events})`)

    const seeded = (
      await client.query<{ id: string; sender_id: string; recipient_id: string }>(
        'select id, sender_id, recipient_id from referrals order by seq limit 1',
      )
    ).rows[0]!
    const sender = senders.find((s) => s.id === seeded.sender_id)!
    const view = await sender.client.request<{
      status: string
      jws: string
      acknowledgements: { type: string; authorId: string }[]
    }>('GET', `/v1/referrals/${seeded.id}`)
    t.equal(view.status, 'received')
    t.match(view.jws, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'the stored JWS has the compact shape')
    t.same(
      view.acknowledgements.map((a) => [a.type, a.authorId]),
      [['received', seeded.recipient_id]],
    )
    for (const agency of [...senders, ...recipients]) {
      const inbox = await agency.client.request<{ items: unknown[] }>('GET', '/v1/inbox')
      t.same(inbox.items, [], 'nothing waits in any inbox')
    }

    // The hub goes on on top of the seeded rows: a new submission, sealed after them, still verifies.
    const document = referralDocument(senders[0]!, { country: 'DE' })
    const jws = await signReferral(document, senders[0]!.keys.signing)
    const submitted = await app.inject({
      method: 'POST',
      url: '/v1/referrals',
      headers: { authorization: `Bearer ${await senders[0]!.client.accessToken()}` },
      payload: { jws },
    })
    t.equal(submitted.statusCode, 201, submitted.body)
    await seal(app)
    t.ok((await verify(app)).intact, 'the chain still verifies after the hub sealed its own events')
  },
)

t.test('a schema the seed does not match is refused before anything is written', async (t) => {
  const { app, config } = await buildTestApp(t)
  const sender = await addAgency(app, { country: 'RO' })
  const recipient = await addAgency(app, { kind: 'national_agency', country: 'DE', ncp: true })
  const client = await seedClient(t)
  await client.query(
    `alter table ${config.databaseSchema}.referral_payloads add column kept_by text not null`,
  )
  await client.query(`alter table ${config.databaseSchema}.outbox drop column relayed_at`)
  t.same(await schemaMismatches(client, config.databaseSchema!), [
    'referral_payloads.kept_by is required (not null, no default) and not written',
    'outbox.relayed_at is missing',
  ])
  await t.rejects(
    seedReferrals(client, {
      schema: config.databaseSchema!,
      count: 10,
      senders: [sender],
      recipients: [recipient],
    }),
    /the schema differs from what bench\/lib\/seed\.ts writes: referral_payloads\.kept_by/,
  )
  const { rows } = await client.query<{ n: string }>(
    `select count(*) as n from ${config.databaseSchema}.referrals`,
  )
  t.equal(rows[0]!.n, '0')
})
