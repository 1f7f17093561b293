import type { LightMyRequestResponse } from 'fastify'
import { importJWK, SignJWT } from 'jose'
import t from 'tap'
import { privateKeyFor, signCompact } from '../../src/lib/compact-jws.js'
import { signAcknowledgement, signReferral } from '../../src/sdk/documents.js'
import { generateAgencyKeys } from '../../src/sdk/keys.js'
import { addAgency, type TestAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { databaseFingerprint } from '../helpers/db-fingerprint.js'
import { referralDocument } from '../helpers/referrals.js'

// Issue 14, point 5: what Postgres refuses (a NUL in a string, a time outside its range) and what
// overflows the stack (deep nesting) is refused with a 4xx problem naming the field, before anything
// is written, instead of failing as a 500.

type Tap = Pick<typeof t, 'equal' | 'match' | 'ok'>

function assertRefused(
  t: Tap,
  response: LightMyRequestResponse,
  expected: { status: number; code: string; pointer?: string | RegExp },
) {
  t.equal(response.statusCode, expected.status, `answers ${expected.status}`)
  t.match(response.headers['content-type'], /^application\/(problem\+)?json/)
  const body = response.json() as { code: string; errors?: { pointer: string; detail: string }[] }
  t.equal(body.code, expected.code, expected.code)
  if (expected.pointer !== undefined) {
    const pointers = (body.errors ?? []).map((e) => e.pointer)
    t.ok(
      pointers.some((p) =>
        typeof expected.pointer === 'string' ? p === expected.pointer : expected.pointer!.test(p),
      ),
      `names ${expected.pointer} (${JSON.stringify(pointers).slice(0, 200)})`,
    )
  }
}

const signRaw = (agency: TestAgency, payload: string, typ = 'trm-referral+json') =>
  signCompact(
    { kid: agency.keys.signing.kid, typ },
    Buffer.from(payload),
    privateKeyFor(agency.keys.signing as never, agency.keys.signing.alg as 'ES256'),
    agency.keys.signing.alg as 'ES256',
  )

t.test(
  'inputs Postgres cannot take are refused with a 4xx naming the field, and nothing is written',
  async (t) => {
    const { app } = await buildTestApp(t)
    const operator = await addAgency(app, { kind: 'hub_operator', country: 'BE' })
    const ro = await addAgency(app, { country: 'RO' })
    const de = await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true })
    const operatorAuth = { authorization: `Bearer ${await operator.client.accessToken()}` }
    const roAuth = { authorization: `Bearer ${await ro.client.accessToken()}` }
    const deAuth = { authorization: `Bearer ${await de.client.accessToken()}` }
    const submit = async (jws: string) =>
      app.inject({ method: 'POST', url: '/v1/referrals', headers: roAuth, payload: { jws } })
    const accepted = referralDocument(ro, { agencyId: de.id })
    t.equal((await submit(await signReferral(accepted, ro.keys.signing))).statusCode, 201)
    const before = await databaseFingerprint(app)

    await t.test('a NUL in the kid of a client assertion (token endpoint, unauthenticated)', async (t) => {
      const now = Math.floor(Date.now() / 1000)
      const assertion = await new SignJWT({})
        .setProtectedHeader({ alg: ro.keys.signing.alg, kid: 'a\u0000b', typ: 'JWT' })
        .setIssuer(ro.id)
        .setSubject(ro.id)
        .setAudience('http://hub.test/v1/oauth/token')
        .setIssuedAt(now)
        .setExpirationTime(now + 60)
        .setJti(crypto.randomUUID())
        .sign(await importJWK(ro.keys.signing, ro.keys.signing.alg))
      const response = await app.inject({
        method: 'POST',
        url: '/v1/oauth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({
          grant_type: 'client_credentials',
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: assertion,
        }).toString(),
      })
      // Client authentication failures are one undifferentiated 401 (RFC 6749 §5.2): no field is named.
      assertRefused(t, response, { status: 401, code: 'TRM_AUTH_UNAUTHENTICATED' })
      t.equal(response.json().error, 'invalid_client')
    })

    await t.test('a NUL in form fields of the token endpoint', async (t) => {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/oauth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'grant_type=client_credentials&scope=referrals%3Aread%00',
      })
      assertRefused(t, response, { status: 400, code: 'TRM_VALIDATION', pointer: '/scope' })
    })

    await t.test("a NUL in a referral's kid", async (t) => {
      const jws = await signReferral(referralDocument(ro, { agencyId: de.id }), {
        ...ro.keys.signing,
        kid: 'k\u0000',
      })
      assertRefused(t, await submit(jws), {
        status: 422,
        code: 'TRM_JWS_HEADER_REFUSED',
        pointer: '/jws/header/kid',
      })
    })

    await t.test('a NUL in a JSON body member, and in a member name', async (t) => {
      assertRefused(t, await submit(`ey\u0000.x.y`), { status: 400, code: 'TRM_VALIDATION', pointer: '/jws' })
      const response = await app.inject({
        method: 'POST',
        url: '/v1/referrals',
        headers: { ...roAuth, 'content-type': 'application/json' },
        payload: '{"jws":"a.b.c","x\\u0000":1}',
      })
      assertRefused(t, response, { status: 400, code: 'TRM_VALIDATION', pointer: '' })
    })

    await t.test('DELETE /v1/agencies/{id}/keys/%00', async (t) => {
      const response = await app.inject({
        method: 'DELETE',
        url: `/v1/agencies/${ro.id}/keys/%00`,
        headers: operatorAuth,
      })
      assertRefused(t, response, { status: 400, code: 'TRM_VALIDATION', pointer: '/params/kid' })
    })

    await t.test("a NUL in an added key's members", async (t) => {
      const [publicKey] = (await generateAgencyKeys('ES256')).publicJwks.keys as Record<string, unknown>[]
      for (const [member, pointer] of [
        ['kid', '/kid'],
        ['x', '/x'],
        ['key_ops', '/key_ops'],
      ] as const) {
        const response = await app.inject({
          method: 'POST',
          url: `/v1/agencies/${ro.id}/keys`,
          headers: operatorAuth,
          payload: { ...publicKey, [member]: `${String(publicKey![member] ?? 'sign')}\u0000` },
        })
        assertRefused(t, response, { status: 400, code: 'TRM_VALIDATION', pointer })
      }
    })

    await t.test('a NUL in an agency name, on creation and on change', async (t) => {
      const created = await app.inject({
        method: 'POST',
        url: '/v1/agencies',
        headers: operatorAuth,
        payload: {
          name: 'Fictional\u0000shelter',
          country: 'RO',
          kind: 'ngo',
          jwks: (await generateAgencyKeys('ES256')).publicJwks,
        },
      })
      assertRefused(t, created, { status: 400, code: 'TRM_VALIDATION', pointer: '/name' })
      const changed = await app.inject({
        method: 'PATCH',
        url: `/v1/agencies/${ro.id}`,
        headers: operatorAuth,
        payload: { name: 'x\u0000' },
      })
      assertRefused(t, changed, { status: 400, code: 'TRM_VALIDATION', pointer: '/name' })
    })

    await t.test('a NUL in a query string and a path parameter', async (t) => {
      for (const url of ['/v1/agencies?after=%00', '/v1/audit?action=a%00', `/v1/agencies/${ro.id}%00`]) {
        const response = await app.inject({ method: 'GET', url, headers: operatorAuth })
        t.equal(response.statusCode, 400, `${url} answers 400`)
        t.equal(response.json().code, 'TRM_VALIDATION')
      }
      // JSON Schema's uuid allows the urn:uuid: form, which Postgres' uuid type refuses.
      const urn = await app.inject({
        method: 'GET',
        url: `/v1/agencies/urn:uuid:${ro.id}`,
        headers: operatorAuth,
      })
      assertRefused(t, urn, { status: 400, code: 'TRM_VALIDATION', pointer: '/params/id' })
    })

    await t.test(
      'URLs the router cannot read are problems too: bad percent-encoding, a very long segment',
      async (t) => {
        const bad = await app.inject({ method: 'GET', url: '/v1/agencies/%E0%A4%A', headers: operatorAuth })
        assertRefused(t, bad, { status: 400, code: 'TRM_BAD_REQUEST' })
        const long = await app.inject({
          method: 'DELETE',
          url: `/v1/agencies/${ro.id}/keys/${'k'.repeat(3000)}`,
          headers: operatorAuth,
        })
        assertRefused(t, long, { status: 414, code: 'TRM_URI_TOO_LONG' })
        // A kid of 200 characters, percent-encoded, still reaches the route (and its own checks).
        const encoded = encodeURIComponent('ключ'.repeat(50))
        const kid = await app.inject({
          method: 'DELETE',
          url: `/v1/agencies/${ro.id}/keys/${encoded}`,
          headers: operatorAuth,
        })
        assertRefused(t, kid, { status: 404, code: 'TRM_NOT_FOUND' })
      },
    )

    await t.test('RFC 3339 times outside what Postgres stores: year 0, offset +20:00', async (t) => {
      for (const createdAt of [
        '0000-01-01T00:00:00Z',
        '2026-11-22T10:00:00+20:00',
        '2026-11-22T10:00:00+14:01',
      ]) {
        const document = referralDocument(ro, { agencyId: de.id }, { createdAt })
        assertRefused(t, await submit(await signReferral(document, ro.keys.signing)), {
          status: 422,
          code: 'TRM_DOCUMENT_INVALID',
          pointer: '/createdAt',
        })
      }
      const consent = { ...accepted.consent, recordedAt: '0000-12-31T23:00:00-14:00' }
      const document = referralDocument(ro, { agencyId: de.id }, { consent })
      assertRefused(t, await submit(await signReferral(document, ro.keys.signing)), {
        status: 422,
        code: 'TRM_DOCUMENT_INVALID',
        pointer: '/consent/recordedAt',
      })
      const acknowledgement = await signAcknowledgement(
        {
          id: crypto.randomUUID(),
          referralId: accepted.id,
          type: 'received',
          createdAt: '2026-11-22T10:00:00-20:00',
        },
        de.keys.signing,
      )
      const response = await app.inject({
        method: 'POST',
        url: `/v1/referrals/${accepted.id}/acknowledgements`,
        headers: deAuth,
        payload: { jws: acknowledgement },
      })
      assertRefused(t, response, { status: 422, code: 'TRM_DOCUMENT_INVALID', pointer: '/createdAt' })
      const stats = await app.inject({
        method: 'GET',
        url: '/v1/stats/referrals?groupBy=urgency&period=0000-Q1',
        headers: operatorAuth,
      })
      assertRefused(t, stats, { status: 400, code: 'TRM_VALIDATION', pointer: /^\/querystring\/period/ })
    })

    await t.test('20,000 nested arrays under needs in a signed referral', async (t) => {
      const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`
      const payload = JSON.stringify(referralDocument(ro, { agencyId: de.id })).replace(
        '"needs":[',
        `"needs":[${deep},`,
      )
      const response = await submit(signRaw(ro, payload))
      assertRefused(t, response, {
        status: 422,
        code: 'TRM_DOCUMENT_INVALID',
        pointer: /^\/jws\/payload\/needs\/0\/0\//,
      })
      t.match(response.body, /nested deeper than 32 levels/)
    })

    await t.test('20,000 nested arrays in a JSON body are refused before they are parsed', async (t) => {
      const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`
      const response = await app.inject({
        method: 'POST',
        url: '/v1/agencies',
        headers: { ...operatorAuth, 'content-type': 'application/json' },
        payload: `{"name":"x","jwks":{"keys":${deep}}}`,
      })
      assertRefused(t, response, { status: 400, code: 'TRM_VALIDATION', pointer: /^\/jwks\/keys\/0\/0\// })
    })

    t.same(await databaseFingerprint(app), before, 'nothing was written by any refused request')
  },
)
