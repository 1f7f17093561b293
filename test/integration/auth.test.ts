import { generateKeyPair, importJWK, type JWK, SignJWT } from 'jose'
import t from 'tap'
import { signAccessToken } from '../../src/modules/auth/access-token.js'
import { createClientAssertion } from '../../src/sdk/client-assertion.js'
import { HubClient } from '../../src/sdk/hub-client.js'
import { addAgency, injectFetch } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

t.test('private_key_jwt', async (t) => {
  const { app, logs } = await buildTestApp(t)
  const tokenUrl = `${app.config.publicUrl}/v1/oauth/token`
  const ngo = await addAgency(app, { country: 'RO' })
  const other = await addAgency(app, { country: 'DE' })

  const postToken = (assertion: string, extra: Record<string, string> = {}) =>
    app.inject({
      method: 'POST',
      url: '/v1/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'client_credentials',
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: assertion,
        ...extra,
      }).toString(),
    })
  const issuedCount = async () =>
    Number(
      (
        await app.db
          .selectFrom('audit_events')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('action', '=', 'token.issued')
          .executeTakeFirstOrThrow()
      ).n,
    )
  const signingKey = async () => importJWK(ngo.keys.signing, 'ES256')
  const claims = (over: Record<string, unknown> = {}) => {
    const now = Math.floor(Date.now() / 1000)
    return {
      iss: ngo.id,
      sub: ngo.id,
      aud: tokenUrl,
      iat: now,
      exp: now + 60,
      jti: crypto.randomUUID(),
      ...over,
    }
  }
  const sign = async (payload: Record<string, unknown>, header: Record<string, unknown> = {}) =>
    new SignJWT(payload)
      .setProtectedHeader({ alg: 'ES256', kid: ngo.keys.signing.kid, ...header })
      .sign(await signingKey())

  t.test('a valid assertion gets an at+jwt access token, no-store', async (t) => {
    const response = await postToken(await createClientAssertion(ngo.id, ngo.keys.signing, tokenUrl))
    t.equal(response.statusCode, 200)
    t.equal(response.headers['cache-control'], 'no-store')
    const body = response.json()
    t.equal(body.token_type, 'Bearer')
    t.equal(body.expires_in, 900)
    t.match(body.scope, /referrals:write/)
    t.notMatch(body.scope, /agencies:admin/)
    t.notMatch(body.scope, /stats:read/, 'an NGO gets no statistics')
    const [header] = body.access_token.split('.')
    t.match(JSON.parse(Buffer.from(header, 'base64url').toString()), { alg: 'EdDSA', typ: 'at+jwt' })
    t.notOk(logs.text.includes(body.access_token), 'the token never reaches the log')
  })

  const base64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
  const refusals: [string, () => Promise<string>][] = [
    [
      'alg none',
      async () => `${base64url({ alg: 'none', kid: ngo.keys.signing.kid })}.${base64url(claims())}.`,
    ],
    [
      'HS256 with the public key as the secret',
      async () =>
        new SignJWT(claims())
          .setProtectedHeader({ alg: 'HS256', kid: ngo.keys.signing.kid })
          .sign(new TextEncoder().encode(JSON.stringify(ngo.keys.publicJwks.keys[0]))),
    ],
    [
      'an alg outside ES256/EdDSA (ES384)',
      async () => {
        const { privateKey } = await generateKeyPair('ES384')
        return new SignJWT(claims())
          .setProtectedHeader({ alg: 'ES384', kid: ngo.keys.signing.kid })
          .sign(privateKey)
      },
    ],
    [
      "another agency's kid (signed with that agency's key)",
      async () =>
        new SignJWT(claims())
          .setProtectedHeader({ alg: 'ES256', kid: other.keys.signing.kid })
          .sign(await importJWK(other.keys.signing, 'ES256')),
    ],
    ['an unknown kid', async () => sign(claims(), { kid: 'no-such-kid' })],
    ['iss different from sub', async () => sign(claims({ sub: other.id }))],
    ['the wrong audience', async () => sign(claims({ aud: 'https://elsewhere.example/token' }))],
    [
      'an expired assertion',
      async () => {
        const past = Math.floor(Date.now() / 1000) - 600
        return sign(claims({ iat: past, exp: past + 60 }))
      },
    ],
    ['exp too far ahead', async () => sign(claims({ exp: Math.floor(Date.now() / 1000) + 3600 }))],
    ['a jku header', async () => sign(claims(), { jku: 'https://attacker.example/jwks' })],
    ['an embedded jwk header', async () => sign(claims(), { jwk: ngo.keys.publicJwks.keys[0] as JWK })],
    ['an x5u header', async () => sign(claims(), { x5u: 'https://attacker.example/cert' })],
    [
      'a tampered signature',
      async () => {
        const jwt = await sign(claims())
        const [h, p, s] = jwt.split('.')
        const bytes = Buffer.from(s!, 'base64url')
        bytes[5] = bytes[5]! ^ 0xff
        return `${h}.${p}.${bytes.toString('base64url')}`
      },
    ],
    [
      'a tampered payload',
      async () => {
        const jwt = await sign(claims())
        const [h, , s] = jwt.split('.')
        return `${h}.${base64url(claims({ iss: other.id, sub: other.id }))}.${s}`
      },
    ],
  ]
  for (const [name, make] of refusals) {
    t.test(`refused: ${name}`, async (t) => {
      const before = await issuedCount()
      const response = await postToken(await make())
      t.equal(response.statusCode, 401)
      t.match(response.json(), {
        error: 'invalid_client',
        error_description: 'Client authentication failed.',
      })
      t.equal(await issuedCount(), before, 'nothing issued')
    })
  }

  t.test('refused: a replayed jti', async (t) => {
    const assertion = await createClientAssertion(ngo.id, ngo.keys.signing, tokenUrl)
    t.equal((await postToken(assertion)).statusCode, 200)
    const before = await issuedCount()
    const replay = await postToken(assertion)
    t.equal(replay.statusCode, 401)
    t.equal(replay.json().error, 'invalid_client')
    t.equal(await issuedCount(), before)
  })

  t.test('refused: a revoked key, and the revocation stays visible', async (t) => {
    const agency = await addAgency(app)
    const admin = await addAgency(app, { kind: 'hub_operator', country: 'BE' })
    const revoked = await agency.client.request<{ status: string; revokedAt: string }>(
      'DELETE',
      `/v1/agencies/${agency.id}/keys/${agency.keys.signing.kid}`,
    )
    t.equal(revoked.status, 'revoked')
    t.ok(revoked.revokedAt)
    const response = await postToken(await createClientAssertion(agency.id, agency.keys.signing, tokenUrl))
    t.equal(response.statusCode, 401)
    const view = await admin.client.request<{ jwks: { keys: { kid: string; status: string }[] } }>(
      'GET',
      `/v1/agencies/${agency.id}`,
    )
    t.match(
      view.jwks.keys.find((k) => k.kid === agency.keys.signing.kid),
      { status: 'revoked' },
    )
  })

  t.test('refused: a suspended agency, and its existing token stops working', async (t) => {
    const agency = await addAgency(app)
    const admin = await addAgency(app, { kind: 'hub_operator', country: 'BE' })
    const token = await agency.client.accessToken()
    await admin.client.request('PATCH', `/v1/agencies/${agency.id}`, { status: 'suspended' })
    const response = await postToken(await createClientAssertion(agency.id, agency.keys.signing, tokenUrl))
    t.equal(response.statusCode, 401)
    // The directory cache holds an agency for at most 10 s; a fresh app has none cached.
    const call = await app.inject({ url: '/v1/agencies', headers: { authorization: `Bearer ${token}` } })
    t.equal(call.statusCode, 401)
  })

  t.test('grant and scope errors follow RFC 6749 §5.2', async (t) => {
    const assertion = await createClientAssertion(ngo.id, ngo.keys.signing, tokenUrl)
    const wrongGrant = await postToken(assertion, { grant_type: 'password' })
    t.equal(wrongGrant.statusCode, 400)
    t.equal(wrongGrant.json().error, 'unsupported_grant_type')
    const scope = await postToken(await createClientAssertion(ngo.id, ngo.keys.signing, tokenUrl), {
      scope: 'agencies:admin',
    })
    t.equal(scope.statusCode, 400)
    t.equal(scope.json().error, 'invalid_scope')
    const narrow = await postToken(await createClientAssertion(ngo.id, ngo.keys.signing, tokenUrl), {
      scope: 'inbox:read',
    })
    t.equal(narrow.json().scope, 'inbox:read')
    const json = await app.inject({ method: 'POST', url: '/v1/oauth/token', payload: { grant_type: 'x' } })
    t.equal(json.statusCode, 415)
  })
})

t.test('access tokens', async (t) => {
  const { app } = await buildTestApp(t)
  const ngo = await addAgency(app)
  const call = (token: string) =>
    app.inject({ url: `/v1/agencies/${ngo.id}`, headers: { authorization: `Bearer ${token}` } })
  const unauthenticated = (t: Tap, response: Awaited<ReturnType<typeof call>>) => {
    t.equal(response.statusCode, 401)
    t.match(response.headers['content-type'], /application\/problem\+json/)
    t.same(response.json().detail, 'A valid access token is required.', 'one undifferentiated answer')
  }
  type Tap = typeof t

  t.equal((await call(await ngo.client.accessToken())).statusCode, 200, 'a good token works')

  t.test('refused: a tampered payload', async (t) => {
    const [h, p, s] = (await ngo.client.accessToken()).split('.')
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString())
    payload.scope = `${payload.scope} agencies:admin`
    unauthenticated(t, await call(`${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`))
  })
  t.test('refused: after expiry', async (t) => {
    const past = new Date(Date.now() - 3600_000)
    const token = await signAccessToken(
      app.hubKeys,
      app.config.publicUrl,
      { agencyId: ngo.id, scopes: ['directory:read'] },
      900,
      past,
    )
    unauthenticated(t, await call(token))
  })
  /** A token shaped like the hub's (issuer, audience, kid) but with the typ and key a case chooses. */
  const tokenLike = (typ: string, key: Parameters<SignJWT['sign']>[0]) => {
    const now = Math.floor(Date.now() / 1000)
    return new SignJWT({ scope: 'directory:read' })
      .setProtectedHeader({ alg: 'EdDSA', typ, kid: app.hubKeys.current.kid })
      .setIssuer(app.config.publicUrl)
      .setAudience(app.config.publicUrl)
      .setSubject(ngo.id)
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(key)
  }
  t.test('refused: another typ', async (t) => {
    unauthenticated(t, await call(await tokenLike('JWT', app.hubKeys.current.privateKey)))
  })
  t.test('refused: signed by a key that is not the hub', async (t) => {
    const { privateKey } = await generateKeyPair('EdDSA')
    unauthenticated(t, await call(await tokenLike('at+jwt', privateKey)))
  })
  t.test('no token, or a malformed header', async (t) => {
    unauthenticated(t, await app.inject({ url: `/v1/agencies/${ngo.id}` }))
    unauthenticated(
      t,
      await app.inject({ url: `/v1/agencies/${ngo.id}`, headers: { authorization: 'Basic abc' } }),
    )
  })
  t.test('403 for a route needing a scope the token lacks', async (t) => {
    const narrow = new HubClient({
      baseUrl: app.config.publicUrl,
      agencyId: ngo.id,
      signingKey: ngo.keys.signing,
      scope: 'inbox:read',
      fetch: injectFetch(app),
    })
    const response = await app.inject({
      url: `/v1/agencies/${ngo.id}`,
      headers: { authorization: `Bearer ${await narrow.accessToken()}` },
    })
    t.equal(response.statusCode, 403)
    t.match(response.json(), { code: 'TRM_AUTH_FORBIDDEN', detail: /directory:read/ })
  })
})

t.test('the hub JWKS publishes public keys only', async (t) => {
  const { app } = await buildTestApp(t)
  const response = await app.inject('/.well-known/jwks.json')
  t.equal(response.statusCode, 200)
  const { keys } = response.json()
  t.equal(keys.length, 1)
  t.match(keys[0], { kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig', kid: app.hubKeys.current.kid })
  t.notOk('d' in keys[0])
  // And it verifies what the hub signs.
  const { jwtVerify } = await import('jose')
  const token = await signAccessToken(
    app.hubKeys,
    app.config.publicUrl,
    { agencyId: 'x', scopes: [] },
    60,
    new Date(),
  )
  const { payload } = await jwtVerify(token, await importJWK(keys[0], 'EdDSA'))
  t.equal(payload.sub, 'x')
})
