import t from 'tap'
import { generateHubKey, loadHubKeys } from '../../src/lib/hub-keys.js'
import { AccessTokenVerifier, signAccessToken } from '../../src/modules/auth/access-token.js'

const ISSUER = 'https://hub.test.invalid'

const freshHubKeys = async () =>
  loadHubKeys({ json: JSON.stringify({ keys: [await generateHubKey()] }), generate: false })
/** A 15-minute access token for agency-a, issued at `at` by `keys`. */
const tokenFor = (keys: Awaited<ReturnType<typeof freshHubKeys>>, at: Date) =>
  signAccessToken(keys, ISSUER, { agencyId: 'agency-a', scopes: ['referrals:write'] }, 900, at)

t.test('a remembered token is still refused once it has expired', async (t) => {
  const keys = await freshHubKeys()
  const issuedAt = new Date('2026-11-23T10:00:00Z')
  const token = await tokenFor(keys, issuedAt)
  // The verifier sees the hub's keys through a map the test can empty: a token it verifies after that
  // can only come from its memory.
  const verificationKeys = new Map(keys.verificationKeys)
  const verifier = new AccessTokenVerifier({ ...keys, verificationKeys }, ISSUER)

  const first = await verifier.verify(token, issuedAt)
  t.match(first, { agencyId: 'agency-a', scopes: ['referrals:write'] })
  verificationKeys.clear()
  const later = await verifier.verify(token, new Date(issuedAt.getTime() + 899_000))
  t.same(later, first, 'recognised from memory while valid (the keys are gone)')
  verificationKeys.set(keys.current.kid, keys.verificationKeys.get(keys.current.kid)!)
  t.match(
    await verifier.verify(token, new Date(issuedAt.getTime() + (900 + 30 + 1) * 1000)),
    { reason: String },
    'refused after exp plus the 30 s of skew, although it was remembered (keys back)',
  )
  const other = await signAccessToken(keys, ISSUER, { agencyId: 'agency-b', scopes: [] }, 900, issuedAt)
  verificationKeys.clear()
  t.match(await verifier.verify(other, issuedAt), { reason: String }, 'a token never verified needs the keys')
})

t.test('a refused token is never remembered as valid', async (t) => {
  const keys = await freshHubKeys()
  const other = await freshHubKeys()
  const now = new Date()
  const forged = await tokenFor(other, now)
  const verifier = new AccessTokenVerifier(keys, ISSUER)
  t.match(await verifier.verify(forged, now), { reason: String })
  t.match(await verifier.verify(forged, now), { reason: String }, 'refused again')
})
