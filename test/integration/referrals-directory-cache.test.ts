import { sql } from 'kysely'
import t from 'tap'
import { encryptSensitive, signReferral } from '../../src/sdk/documents.js'
import { HubRequestError } from '../../src/sdk/hub-client.js'
import { addAgency, revokeKeysDirectly, type TestAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { referralDocument, writeCounts } from '../helpers/referrals.js'

// The request path reads agencies and keys from a cache kept for seconds. These tests change the
// directory behind its back, as another hub process or an operator's SQL would, and check that what
// the statement storing a referral re-checks wins over what the cache still holds.

type Json = Record<string, any>
type Tap = Pick<typeof t, 'equal' | 'same'>

t.test('referrals against a directory changed by another process', async (t) => {
  const { app } = await buildTestApp(t)
  const post = async (agency: TestAgency, document: ReturnType<typeof referralDocument>) => {
    try {
      return {
        status: 201,
        body: await agency.client.request<Json>('POST', '/v1/referrals', {
          jws: await signReferral(document, agency.keys.signing),
        }),
      }
    } catch (error) {
      if (error instanceof HubRequestError) return { status: error.status, body: error.body as Json }
      throw error
    }
  }
  const refusedWithoutWrites = async (
    t: Tap,
    agency: TestAgency,
    document: ReturnType<typeof referralDocument>,
    expected: { status: number; code: string; pointer?: string },
  ) => {
    const before = await writeCounts(app)
    const answer = await post(agency, document)
    t.equal(answer.status, expected.status, answer.body['detail'])
    t.equal(answer.body['code'], expected.code)
    if (expected.pointer) t.equal(answer.body['errors']?.[0]?.pointer, expected.pointer)
    t.same(await writeCounts(app), before, 'nothing written')
  }

  /** An NGO in RO and a social service in DE. */
  const pair = async () => ({
    ro: await addAgency(app, { country: 'RO' }),
    de: await addAgency(app, { country: 'DE', kind: 'social_services' }),
  })
  /** The same, with one referral between them: the cache now holds both agencies and their keys. */
  const cachedPair = async (t: Tap) => {
    const { ro, de } = await pair()
    t.equal(
      (await post(ro, referralDocument(ro, { agencyId: de.id }))).status,
      201,
      'both agencies are now cached',
    )
    return { ro, de }
  }

  const inject = async (agency: TestAgency, jws: string) =>
    app.inject({
      method: 'POST',
      url: '/v1/referrals',
      headers: { authorization: `Bearer ${await agency.client.accessToken()}` },
      payload: { jws },
    })

  t.test(
    'a recipient whose kind changed elsewhere is held to the consent rules of its new kind',
    async (t) => {
      // Consent for assistance only: fine for a social service, not for the police.
      const { ro, de } = await cachedPair(t)
      await app.db.updateTable('agencies').set({ kind: 'law_enforcement' }).where('id', '=', de.id).execute()
      await refusedWithoutWrites(t, ro, referralDocument(ro, { agencyId: de.id }), {
        status: 422,
        code: 'TRM_CONSENT_INSUFFICIENT',
      })
    },
  )

  t.test(
    'a stored referral replayed after its recipient was suspended still answers 200 with its receipt',
    async (t) => {
      const { ro, de } = await pair()
      const jws = await signReferral(referralDocument(ro, { agencyId: de.id }), ro.keys.signing)
      const first = await inject(ro, jws)
      t.equal(first.statusCode, 201)
      await app.db.updateTable('agencies').set({ status: 'suspended' }).where('id', '=', de.id).execute()
      const before = await writeCounts(app)
      const replay = await inject(ro, jws)
      t.equal(replay.statusCode, 200, replay.body)
      t.equal(replay.json().receipt, first.json().receipt, 'the same receipt')
      t.same(await writeCounts(app), before, 'nothing written')
    },
  )

  t.test('a submission of the same document still in progress is a 409, and writes nothing', async (t) => {
    const { ro, de } = await pair()
    const document = referralDocument(ro, { agencyId: de.id })
    const jws = await signReferral(document, ro.keys.signing)
    // Another submission of it holds the statement's lock (as if it were being written right now).
    let release!: () => void
    let locked!: () => void
    const holding = new Promise<void>((resolve) => {
      locked = resolve
    })
    const other = app.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtextextended(${`referral:${ro.id}:${document.id}`}, 0))`.execute(
        trx,
      )
      locked()
      await new Promise<void>((resolve) => {
        release = resolve
      })
    })
    await holding
    const before = await writeCounts(app)
    const answer = await inject(ro, jws)
    t.equal(answer.statusCode, 409, answer.body)
    t.equal(answer.json().code, 'TRM_IN_PROGRESS')
    t.same(await writeCounts(app), before, 'nothing written')
    release()
    await other
    t.equal((await inject(ro, jws)).statusCode, 201, 'once it is gone, the document is taken')
  })

  t.test('a signing key revoked elsewhere is refused at once', async (t) => {
    const { ro, de } = await cachedPair(t)
    await revokeKeysDirectly(app, ro.id)
    await refusedWithoutWrites(t, ro, referralDocument(ro, { agencyId: de.id }), {
      status: 422,
      code: 'TRM_KEY_UNKNOWN',
      pointer: '/jws/header/kid',
    })
  })

  t.test('a recipient suspended elsewhere is refused at once', async (t) => {
    const { ro, de } = await cachedPair(t)
    await app.db.updateTable('agencies').set({ status: 'suspended' }).where('id', '=', de.id).execute()
    await refusedWithoutWrites(t, ro, referralDocument(ro, { agencyId: de.id }), {
      status: 422,
      code: 'TRM_RECIPIENT_INVALID',
      pointer: '/recipient/agencyId',
    })
  })

  t.test('a sender suspended elsewhere cannot submit, although its token and row are cached', async (t) => {
    const { ro, de } = await cachedPair(t)
    await app.db.updateTable('agencies').set({ status: 'suspended' }).where('id', '=', ro.id).execute()
    await refusedWithoutWrites(t, ro, referralDocument(ro, { agencyId: de.id }), {
      status: 401,
      code: 'TRM_AUTH_UNAUTHENTICATED',
    })
    const raw = await inject(
      ro,
      await signReferral(referralDocument(ro, { agencyId: de.id }), ro.keys.signing),
    )
    t.equal(raw.statusCode, 401)
    t.equal(raw.headers['www-authenticate'], 'Bearer realm="trm-hub"', 'the same answer as the access check')
  })

  t.test('an encryption key revoked elsewhere no longer receives sensitive details', async (t) => {
    const { ro, de } = await pair()
    const encKey = de.keys.publicJwks.keys.find((k) => k.use === 'enc')!
    const withSensitive = async () =>
      referralDocument(
        ro,
        { agencyId: de.id },
        { sensitive: await encryptSensitive({ note: 'Fictional test note' }, encKey) },
      )
    t.equal((await post(ro, await withSensitive())).status, 201, 'the recipient keys are now cached')
    await revokeKeysDirectly(app, de.id, 'enc')
    await refusedWithoutWrites(t, ro, await withSensitive(), {
      status: 422,
      code: 'TRM_SENSITIVE_INVALID',
      pointer: '/sensitive',
    })
  })

  t.test('a national contact point replaced elsewhere: the referral goes to the new one', async (t) => {
    const ro = await addAgency(app, { country: 'RO' })
    const oldNcp = await addAgency(app, { country: 'AT', kind: 'national_agency', ncp: true })
    const newNcp = await addAgency(app, { country: 'AT', kind: 'national_agency' })
    const first = await post(ro, referralDocument(ro, { country: 'AT' }))
    t.equal(first.body['recipient']?.agencyId, oldNcp.id, 'the old one is now cached')
    await app.db
      .updateTable('agencies')
      .set({ national_contact_point: false })
      .where('id', '=', oldNcp.id)
      .execute()
    await app.db
      .updateTable('agencies')
      .set({ national_contact_point: true })
      .where('id', '=', newNcp.id)
      .execute()
    const second = await post(ro, referralDocument(ro, { country: 'AT' }))
    t.equal(second.status, 201)
    t.equal(second.body['recipient']?.agencyId, newNcp.id, 'routed to the current one')
    const rows = await app.db
      .selectFrom('inbox_messages')
      .select('agency_id')
      .where('referral_id', '=', second.body['id'])
      .execute()
    t.same(rows, [{ agency_id: newNcp.id }], 'and its inbox holds it')
  })

  t.test(
    'a recipient switched to push elsewhere gets a webhook delivery for the next referral',
    async (t) => {
      const { ro, de } = await cachedPair(t)
      await app.db
        .updateTable('agencies')
        .set({ delivery_mode: 'push', delivery_url: 'https://webhooks.test.invalid/trm' })
        .where('id', '=', de.id)
        .execute()
      const second = await post(ro, referralDocument(ro, { agencyId: de.id }))
      t.equal(second.status, 201)
      const deliveries = await app.db
        .selectFrom('deliveries')
        .selectAll()
        .where('referral_id', '=', second.body['id'])
        .execute()
      t.equal(deliveries.length, 1, 'one delivery')
      const jobs = await app.db.selectFrom('outbox').selectAll().where('queue', '=', 'webhooks').execute()
      t.ok(
        jobs.some((job) => job.payload['messageId'] === deliveries[0]!.message_id),
        'and its webhook job',
      )
    },
  )
})
