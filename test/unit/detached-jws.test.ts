import { compactVerify, createLocalJWKSet, flattenedVerify } from 'jose'
import t from 'tap'
import { signDetached, verifyDetached, WEBHOOK_SIGNATURE_TYP } from '../../src/lib/detached-jws.js'
import { generateHubKey, loadHubKeys } from '../../src/lib/hub-keys.js'
import { verifyWebhook } from '../../src/sdk/webhooks.js'

const keys = await loadHubKeys({ json: JSON.stringify({ keys: [await generateHubKey()] }), generate: false })
const jwks = createLocalJWKSet({ keys: [...keys.publicJwks.keys] })
const body = new TextEncoder().encode(JSON.stringify({ id: 'm-1', type: 'referral', note: 'zażółć' }))

t.test('a detached compact JWS (RFC 7515 Appendix F): header..signature', async (t) => {
  const signature = await signDetached(keys, WEBHOOK_SIGNATURE_TYP, body)
  const [header, payload, sig] = signature.split('.')
  t.equal(payload, '', 'the payload part is empty')
  t.same(JSON.parse(Buffer.from(header!, 'base64url').toString()), {
    alg: 'EdDSA',
    kid: keys.current.kid,
    typ: WEBHOOK_SIGNATURE_TYP,
  })
  // Plain jose, as a receiver would do it: put the body back in and verify.
  const attached = `${header}.${Buffer.from(body).toString('base64url')}.${sig}`
  const verified = await compactVerify(attached, jwks, { algorithms: ['EdDSA'] })
  t.same(Buffer.from(verified.payload), Buffer.from(body))
  const flattened = await flattenedVerify(
    { protected: header!, payload: Buffer.from(body).toString('base64url'), signature: sig! },
    jwks,
  )
  t.equal(flattened.protectedHeader?.kid, keys.current.kid)
  t.match(await verifyDetached(signature, body, jwks, WEBHOOK_SIGNATURE_TYP), { typ: WEBHOOK_SIGNATURE_TYP })
})

t.test('verification refuses other bytes, other typ, attached payloads and other keys', async (t) => {
  const signature = await signDetached(keys, WEBHOOK_SIGNATURE_TYP, body)
  const tampered = Uint8Array.from(body)
  tampered[5] = tampered[5]! ^ 1
  await t.rejects(verifyDetached(signature, tampered, jwks, WEBHOOK_SIGNATURE_TYP))
  await t.rejects(verifyDetached(signature, body, jwks, 'trm-receipt+json'), /typ/)
  const [h, , s] = signature.split('.')
  await t.rejects(
    verifyDetached(`${h}.${Buffer.from(body).toString('base64url')}.${s}`, body, jwks, WEBHOOK_SIGNATURE_TYP),
    /detached/,
  )
  const other = await loadHubKeys({
    json: JSON.stringify({ keys: [await generateHubKey()] }),
    generate: false,
  })
  await t.rejects(
    verifyDetached(
      signature,
      body,
      createLocalJWKSet({ keys: [...other.publicJwks.keys] }),
      WEBHOOK_SIGNATURE_TYP,
    ),
  )
})

t.test('the SDK helper verifies the raw body and returns the message', async (t) => {
  const signature = await signDetached(keys, WEBHOOK_SIGNATURE_TYP, body)
  const hubJwks = { keys: [...keys.publicJwks.keys] }
  t.match(await verifyWebhook(body, signature, hubJwks), { id: 'm-1', note: 'zażółć' })
  t.match(await verifyWebhook(new TextDecoder().decode(body), signature, hubJwks), { id: 'm-1' })
  await t.rejects(verifyWebhook(`${new TextDecoder().decode(body)} `, signature, hubJwks))
})
