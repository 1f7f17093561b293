import { randomUUID } from 'node:crypto'
import { importJWK, SignJWT } from 'jose'
import t from 'tap'
import { addAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'

// Issue 14, point 9: a client assertion with iat a year ahead was accepted. iat and nbf may be ahead
// of the hub's clock by 60 s (ASSERTION_CLOCK_SKEW_SECONDS) and no more.

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

t.test('client assertion iat and nbf in the future', async (t) => {
  const { app } = await buildTestApp(t)
  const ngo = await addAgency(app, { country: 'RO' })
  const tokenUrl = `${app.config.publicUrl}/v1/oauth/token`
  const key = await importJWK(ngo.keys.signing, 'ES256')
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
  /** Times are seconds from now, on the test's clock. */
  const tokenFor = async (times: { iat: number; exp: number; nbf?: number }) => {
    const now = Math.floor(Date.now() / 1000)
    const claims = {
      iat: now + times.iat,
      exp: now + times.exp,
      ...(times.nbf === undefined ? {} : { nbf: now + times.nbf }),
    }
    const assertion = await new SignJWT({ ...claims, jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: ngo.keys.signing.kid, typ: 'JWT' })
      .setIssuer(ngo.id)
      .setSubject(ngo.id)
      .setAudience(tokenUrl)
      .sign(key)
    return app.inject({
      method: 'POST',
      url: '/v1/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'client_credentials',
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: assertion,
      }).toString(),
    })
  }
  const refused = async (t: Tap, times: Parameters<typeof tokenFor>[0]) => {
    const before = await issuedCount()
    const response = await tokenFor(times)
    t.equal(response.statusCode, 401)
    t.match(response.json(), { error: 'invalid_client', error_description: 'Client authentication failed.' })
    t.equal(await issuedCount(), before, 'no token issued')
  }

  type Tap = typeof t

  t.test('iat a year ahead (exp a minute from now) is refused', async (t) => {
    await refused(t, { iat: 365 * 86400, exp: 60 })
  })
  t.test('iat 30 s ahead is accepted (clock skew); 2 minutes ahead is refused', async (t) => {
    t.equal((await tokenFor({ iat: 30, exp: 90 })).statusCode, 200, '30 s ahead')
    await refused(t, { iat: 120, exp: 180 })
  })
  t.test('nbf 2 minutes ahead is refused; 45 s ahead is within the skew', async (t) => {
    await refused(t, { iat: 0, nbf: 120, exp: 180 })
    t.equal((await tokenFor({ iat: 0, nbf: 45, exp: 120 })).statusCode, 200, '45 s ahead')
  })
})
