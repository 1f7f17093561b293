import t from 'tap'
import { HubClient, HubRequestError } from '../../src/sdk/hub-client.js'
import { generateAgencyKeys } from '../../src/sdk/keys.js'
import { addAgency, injectFetch } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { statementFailure } from '../helpers/db-search.js'

const failure = async (promise: Promise<unknown>) => {
  try {
    await promise
  } catch (error) {
    if (error instanceof HubRequestError)
      return { status: error.status, body: error.body as Record<string, any> }
    throw error
  }
  throw new Error('expected the hub to refuse')
}

t.test('directory and keys', async (t) => {
  const { app } = await buildTestApp(t)
  const operator = await addAgency(app, { kind: 'hub_operator', country: 'BE' })

  t.test(
    'round trip: keys, registration by the operator, token through the SDK, a protected call',
    async (t) => {
      const keys = await generateAgencyKeys()
      const created = await operator.client.request<{ id: string; status: string; jwks: { keys: object[] } }>(
        'POST',
        '/v1/agencies',
        { name: 'Fictional Shelter Association', country: 'RO', kind: 'ngo', jwks: keys.publicJwks },
      )
      t.equal(created.status, 'active')
      t.equal(created.jwks.keys.length, 2)
      const client = new HubClient({
        baseUrl: app.config.publicUrl,
        agencyId: created.id,
        signingKey: keys.signing,
        fetch: injectFetch(app),
      })
      const self = await client.request<{ id: string; delivery: { mode: string } }>(
        'GET',
        `/v1/agencies/${created.id}`,
      )
      t.equal(self.id, created.id)
      t.same(self.delivery, { mode: 'pull' })
      const jwks = await client.request<{ keys: { kid: string }[] }>(
        'GET',
        `/v1/agencies/${created.id}/jwks.json`,
      )
      t.same(jwks.keys.map((k) => k.kid).sort(), [keys.signing.kid, keys.encryption.kid].sort())
    },
  )

  t.test('a private JWK is refused and nothing is written', async (t) => {
    const keys = await generateAgencyKeys()
    const before = await app.db.selectFrom('agencies').select('id').execute()
    const { status, body } = await failure(
      operator.client.request('POST', '/v1/agencies', {
        name: 'Fictional Leaky NGO',
        country: 'RO',
        kind: 'ngo',
        jwks: { keys: [keys.signing] },
      }),
    )
    t.equal(status, 400)
    t.equal(body['code'], 'TRM_PRIVATE_KEY_REFUSED')
    t.same(body['errors'], [
      {
        pointer: '/jwks/keys/0/d',
        detail: 'private key material is never sent to the hub; register the public key only',
      },
    ])
    t.equal((await app.db.selectFrom('agencies').select('id').execute()).length, before.length)
  })

  t.test('a private JWK added as a key is refused too', async (t) => {
    const agency = await addAgency(app)
    const { status, body } = await failure(
      agency.client.request('POST', `/v1/agencies/${agency.id}/keys`, (await generateAgencyKeys()).signing),
    )
    t.equal(status, 400)
    t.equal(body['code'], 'TRM_PRIVATE_KEY_REFUSED')
  })

  t.test('a key whose alg does not fit its type is refused', async (t) => {
    const keys = await generateAgencyKeys()
    const { status, body } = await failure(
      operator.client.request('POST', '/v1/agencies', {
        name: 'Fictional',
        country: 'RO',
        kind: 'ngo',
        jwks: { keys: [{ ...keys.publicJwks.keys[0], alg: 'EdDSA' }] },
      }),
    )
    t.equal(status, 400)
    t.same(body['errors'][0].pointer, '/jwks/keys/0/alg')
  })

  t.test('function-level authorization', async (t) => {
    const ngo = await addAgency(app)
    const another = await addAgency(app)
    const keys = await generateAgencyKeys()
    const register = await failure(
      ngo.client.request('POST', '/v1/agencies', {
        name: 'X',
        country: 'RO',
        kind: 'ngo',
        jwks: keys.publicJwks,
      }),
    )
    t.equal(register.status, 403, 'a non-operator cannot register agencies')
    const patchOther = await failure(
      ngo.client.request('PATCH', `/v1/agencies/${another.id}`, { delivery: { mode: 'pull' } }),
    )
    t.equal(patchOther.status, 403, 'nor change another agency')
    const nameSelf = await failure(ngo.client.request('PATCH', `/v1/agencies/${ngo.id}`, { name: 'Renamed' }))
    t.equal(nameSelf.status, 403, 'nor change its own name')
    t.same(nameSelf.body['errors'], [{ pointer: '/name', detail: 'only an operator may change this' }])
    const keyOther = await failure(
      ngo.client.request('POST', `/v1/agencies/${another.id}/keys`, { ...keys.publicJwks.keys[0] }),
    )
    t.equal(keyOther.status, 403, 'nor add keys to another agency')
    const revokeOther = await failure(
      ngo.client.request('DELETE', `/v1/agencies/${another.id}/keys/${another.keys.signing.kid}`),
    )
    t.equal(revokeOther.status, 403, 'nor revoke keys of another agency')
    const missing = await failure(
      operator.client.request('GET', '/v1/agencies/01900000-0000-7000-8000-000000000000'),
    )
    t.equal(missing.status, 404)
    t.equal(missing.body['code'], 'TRM_NOT_FOUND')
    const missingPatch = await failure(
      operator.client.request('PATCH', '/v1/agencies/01900000-0000-7000-8000-000000000000', { name: 'Y' }),
    )
    t.equal(missingPatch.status, 404)
  })

  t.test(
    'an agency sets its own delivery; webhooks must be https (or loopback with the dev flag)',
    async (t) => {
      const ngo = await addAgency(app)
      const pushed = await ngo.client.request<{ delivery: object }>('PATCH', `/v1/agencies/${ngo.id}`, {
        delivery: { mode: 'push', url: 'https://receiver.example/trm' },
      })
      t.same(pushed.delivery, { mode: 'push', url: 'https://receiver.example/trm' })
      const plain = await failure(
        ngo.client.request('PATCH', `/v1/agencies/${ngo.id}`, {
          delivery: { mode: 'push', url: 'http://receiver.example/trm' },
        }),
      )
      t.equal(plain.status, 400)
      t.same(plain.body['errors'], [{ pointer: '/delivery/url', detail: 'The webhook URL must use https.' }])
      const loopback = await ngo.client.request<{ delivery: object }>('PATCH', `/v1/agencies/${ngo.id}`, {
        delivery: { mode: 'push', url: 'http://127.0.0.1:9999/hook' },
      })
      t.same(loopback.delivery, { mode: 'push', url: 'http://127.0.0.1:9999/hook' })
    },
  )

  t.test('one national contact point per country', async (t) => {
    await addAgency(app, { country: 'AT', ncp: true, kind: 'national_agency' })
    const keys = await generateAgencyKeys()
    const second = await failure(
      operator.client.request('POST', '/v1/agencies', {
        name: 'Second',
        country: 'AT',
        kind: 'national_agency',
        nationalContactPoint: true,
        jwks: keys.publicJwks,
      }),
    )
    t.equal(second.status, 409)
    t.equal(second.body['code'], 'TRM_DIRECTORY_CONFLICT')
  })

  t.test('the list filters and pages', async (t) => {
    for (let i = 0; i < 3; i++) await addAgency(app, { country: 'PT', kind: 'social_services' })
    const page1 = await operator.client.request<{ items: { country: string }[]; next: string }>(
      'GET',
      '/v1/agencies?country=PT&kind=social_services&limit=2',
    )
    t.equal(page1.items.length, 2)
    t.ok(page1.next)
    const page2 = await operator.client.request<{ items: object[]; next: string | null }>(
      'GET',
      `/v1/agencies?country=PT&kind=social_services&limit=2&after=${page1.next}`,
    )
    t.equal(page2.items.length, 1)
    t.equal(page2.next, null)
    const ncps = await operator.client.request<{ items: { nationalContactPoint: boolean }[] }>(
      'GET',
      '/v1/agencies?nationalContactPoint=true',
    )
    t.ok(ncps.items.length >= 1 && ncps.items.every((a) => a.nationalContactPoint))
    const bad = await failure(operator.client.request('GET', '/v1/agencies?after=not-a-cursor'))
    t.equal(bad.status, 400)
    t.same(bad.body['errors'][0].pointer, '/querystring/after')
  })

  t.test('an agency is never deleted and keeps its id: that is what its referrals rely on', async (t) => {
    const ngo = await addAgency(app)
    const refused = (statement: string, role?: 'trm_app') => statementFailure(app, statement, role)
    const kept = { code: '23001', message: /never deleted/ }
    t.match(await refused(`delete from agencies where id = '${ngo.id}'`), kept, 'not even by the owner')
    t.match(await refused(`update agencies set id = gen_random_uuid() where id = '${ngo.id}'`), kept)
    t.match(await refused('truncate agencies cascade'), kept)
    t.match(await refused(`delete from agencies where id = '${ngo.id}'`, 'trm_app'), {
      code: '42501',
      message: /permission denied/,
    })
    t.equal(
      await refused(`update agencies set status = 'suspended' where id = '${ngo.id}'`, 'trm_app'),
      undefined,
    )
    const row = await app.db
      .selectFrom('agencies')
      .select('status')
      .where('id', '=', ngo.id)
      .executeTakeFirstOrThrow()
    t.equal(row.status, 'suspended', 'suspension is how it leaves')
  })

  t.test('directory changes are audited', async (t) => {
    const ngo = await addAgency(app)
    const extra = (await generateAgencyKeys('EdDSA')).publicJwks.keys[0]!
    await ngo.client.request('POST', `/v1/agencies/${ngo.id}/keys`, extra)
    await ngo.client.request('DELETE', `/v1/agencies/${ngo.id}/keys/${extra.kid}`)
    const rows = await app.db
      .selectFrom('audit_events')
      .select(['action', 'actor', 'target_id'])
      .where('actor', '=', ngo.id)
      .orderBy('id')
      .execute()
    t.same(
      rows.map((r) => [r.action, r.target_id]),
      [
        ['token.issued', ngo.id],
        ['key.added', `${ngo.id}/${extra.kid}`],
        ['key.revoked', `${ngo.id}/${extra.kid}`],
      ],
    )
    const created = await app.db
      .selectFrom('audit_events')
      .select('action')
      .where('target_id', '=', ngo.id)
      .execute()
    t.ok(created.some((r) => r.action === 'agency.created'))
  })
})
