import t from 'tap'
import { HubClient, HubRequestError } from '../../src/sdk/hub-client.js'
import { generateAgencyKeys } from '../../src/sdk/keys.js'
import { addAgency, injectFetch, type TestAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'

type Problem = { code: string; detail: string }
type Call = readonly [method: string, path: string, body?: unknown]

t.test('directory changes and the scopes of the token', async (t) => {
  const { app } = await buildTestApp(t)
  const operator = await addAgency(app, { kind: 'hub_operator', country: 'BE' })

  /** The agency's client with a token asked for exactly these scopes. */
  const scoped = (agency: TestAgency, scope: string) =>
    new HubClient({
      baseUrl: app.config.publicUrl,
      agencyId: agency.id,
      signingKey: agency.keys.signing,
      scope,
      fetch: injectFetch(app),
    })
  const send = async (client: HubClient, [method, path, body]: Call) => {
    try {
      await client.request(method, path, body)
      return { status: 200, body: {} as Problem }
    } catch (error) {
      if (error instanceof HubRequestError) return { status: error.status, body: error.body as Problem }
      throw error
    }
  }
  /** What a refused call must have left as it was: the agency's row and its keys. */
  const snapshot = async (agencyId: string) => ({
    agency: await app.db.selectFrom('agencies').selectAll().where('id', '=', agencyId).executeTakeFirst(),
    keys: await app.db
      .selectFrom('agency_keys')
      .selectAll()
      .where('agency_id', '=', agencyId)
      .orderBy('kid')
      .execute(),
  })

  t.test("an operator's token acts on another agency only with agencies:admin", async (t) => {
    const target = await addAgency(app, { country: 'RO' })
    const newKey = (await generateAgencyKeys('EdDSA')).publicJwks.keys[0]!
    const adminCalls: Call[] = [
      ['PATCH', `/v1/agencies/${target.id}`, { status: 'suspended' }],
      [
        'PATCH',
        `/v1/agencies/${target.id}`,
        { delivery: { mode: 'push', url: 'https://elsewhere.example/x' } },
      ],
      ['POST', `/v1/agencies/${target.id}/keys`, newKey],
      ['DELETE', `/v1/agencies/${target.id}/keys/${target.keys.signing.kid}`],
      // What only an operator may do, on its own agency too.
      ['PATCH', `/v1/agencies/${operator.id}`, { name: 'Renamed by a narrow token' }],
    ]
    const before = [await snapshot(target.id), await snapshot(operator.id)]
    for (const scope of ['directory:read', 'directory:read agency:write referrals:write audit:read']) {
      const narrow = scoped(operator, scope)
      for (const call of adminCalls) {
        const { status, body } = await send(narrow, call)
        t.equal(status, 403, `${call[0]} ${call[1]} with "${scope}"`)
        t.equal(body.code, 'TRM_AUTH_FORBIDDEN')
        t.match(body.detail, /agencies:admin/, 'the problem names the missing scope')
      }
    }
    t.same([await snapshot(target.id), await snapshot(operator.id)], before, 'nothing was changed')

    // agencies:admin alone is enough for every admin action.
    const admin = scoped(operator, 'agencies:admin')
    for (const call of adminCalls) t.equal((await send(admin, call)).status, 200, `${call[0]} ${call[1]}`)
    const after = await snapshot(target.id)
    t.match(after.agency, { status: 'suspended', delivery_mode: 'push' })
    t.ok(after.keys.some((k) => k.kid === newKey.kid))
    t.match(
      after.keys.find((k) => k.kid === target.keys.signing.kid),
      { status: 'revoked' },
    )
  })

  t.test('an agency changes its own delivery settings and keys only with agency:write', async (t) => {
    const ngo = await addAgency(app, { country: 'DE' })
    const newKey = (await generateAgencyKeys('EdDSA')).publicJwks.keys[0]!
    const ownCalls: Call[] = [
      ['PATCH', `/v1/agencies/${ngo.id}`, { delivery: { mode: 'push', url: 'https://hooks.example/trm' } }],
      ['POST', `/v1/agencies/${ngo.id}/keys`, newKey],
      ['DELETE', `/v1/agencies/${ngo.id}/keys/${ngo.keys.encryption.kid}`],
    ]
    const before = await snapshot(ngo.id)
    const reader = scoped(ngo, 'directory:read referrals:write referrals:read inbox:read')
    for (const call of ownCalls) {
      const { status, body } = await send(reader, call)
      t.equal(status, 403, `${call[0]} ${call[1]} without agency:write`)
      t.equal(body.code, 'TRM_AUTH_FORBIDDEN')
      t.match(body.detail, /agency:write/, 'the problem names the missing scope')
    }
    t.same(await snapshot(ngo.id), before, 'nothing was changed')

    const writer = scoped(ngo, 'agency:write')
    for (const call of ownCalls) t.equal((await send(writer, call)).status, 200, `${call[0]} ${call[1]}`)
    t.match((await snapshot(ngo.id)).agency, {
      delivery_mode: 'push',
      delivery_url: 'https://hooks.example/trm',
    })

    // agency:write is for its own agency: another one, or a field only the operator sets, stays refused.
    const other = await addAgency(app, { country: 'FR' })
    const patchOther = await send(writer, [
      'PATCH',
      `/v1/agencies/${other.id}`,
      { delivery: { mode: 'pull' } },
    ])
    t.match(patchOther, { status: 403, body: { code: 'TRM_AUTH_FORBIDDEN' } })
    const suspendSelf = await send(writer, ['PATCH', `/v1/agencies/${ngo.id}`, { status: 'suspended' }])
    t.match(suspendSelf, { status: 403, body: { code: 'TRM_AUTH_FORBIDDEN' } })
    t.equal((await snapshot(ngo.id)).agency?.status, 'active')
  })

  t.test(
    'a token without any write scope for the directory is refused before its body is read',
    async (t) => {
      const ngo = await addAgency(app, { country: 'AT' })
      const reader = scoped(ngo, 'directory:read')
      const { status, body } = await send(reader, ['PATCH', `/v1/agencies/${ngo.id}`, { unknown: 1 }])
      t.equal(status, 403)
      t.match(body.detail, /agency:write/)
    },
  )

  t.test('agencies:admin in a token is not enough once the agency is no longer an operator', async (t) => {
    const second = await addAgency(app, { kind: 'hub_operator', country: 'LU' })
    await second.client.accessToken() // issued while it is an operator, with agencies:admin
    await operator.client.request('PATCH', `/v1/agencies/${second.id}`, { kind: 'ngo' })
    const target = await addAgency(app, { country: 'SK' })
    const keys = await generateAgencyKeys()
    const register = await send(second.client, [
      'POST',
      '/v1/agencies',
      { name: 'Fictional Registered Late', country: 'SK', kind: 'ngo', jwks: keys.publicJwks },
    ])
    t.match(register, { status: 403, body: { code: 'TRM_AUTH_FORBIDDEN' } })
    const suspend = await send(second.client, ['PATCH', `/v1/agencies/${target.id}`, { status: 'suspended' }])
    t.match(suspend, { status: 403, body: { code: 'TRM_AUTH_FORBIDDEN' } })
    const registered = await app.db
      .selectFrom('agencies')
      .select('id')
      .where('name', '=', 'Fictional Registered Late')
      .execute()
    t.same(registered, [], 'nothing was registered')
  })

  t.test('agency:write is among the scopes every agency gets by default', async (t) => {
    const ngo = await addAgency(app, { country: 'PL' })
    const token = await ngo.client.accessToken()
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { scope: string }
    t.ok(claims.scope.split(' ').includes('agency:write'), claims.scope)
    t.notOk(claims.scope.split(' ').includes('agencies:admin'))
  })
})
