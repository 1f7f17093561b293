import fc from 'fast-check'
import { CompactSign, compactVerify, exportJWK, generateKeyPair } from 'jose'
import t from 'tap'
import { privateKeyFor, publicKeyFor, signCompact, verifyCompact } from '../../src/lib/compact-jws.js'
import type { AgencySigningAlg } from '../../src/lib/jose-safe.js'

// The node:crypto signatures must be interchangeable with jose's, which agencies (through the SDK)
// and every verifier of a receipt use: each side verifies what the other signs, and both refuse the
// same changes.

const ALGS: AgencySigningAlg[] = ['ES256', 'EdDSA']

async function keyPair(alg: AgencySigningAlg) {
  const pair = await generateKeyPair(alg, { extractable: true })
  const privateJwk = (await exportJWK(pair.privateKey)) as Record<string, unknown>
  const publicJwk = (await exportJWK(pair.publicKey)) as Record<string, unknown>
  return { ...pair, privateJwk, publicJwk }
}

/** True when two compact JWS strings decode to the same three byte strings. */
function sameBytes(a: string, b: string) {
  const decode = (jws: string) => jws.split('.').map((part) => Buffer.from(part, 'base64url').toString('hex'))
  return decode(a).join('.') === decode(b).join('.')
}

/** The same base64url part with its last character's lowest (unused) bit flipped. */
function otherSpelling(part: string) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  return part.slice(0, -1) + alphabet[alphabet.indexOf(part.at(-1)!) ^ 1]
}

const payload = new TextEncoder().encode(
  JSON.stringify({ id: 'ref-0001', note: 'Fictional test note, zażółć' }),
)

for (const alg of ALGS) {
  t.test(`${alg}: jose verifies what compact-jws signs, and the other way round`, async (t) => {
    const keys = await keyPair(alg)
    const ours = signCompact(
      { kid: 'k-1', typ: 'trm-receipt+json' },
      payload,
      privateKeyFor(keys.privateJwk, alg),
      alg,
    )
    const verified = await compactVerify(ours, keys.publicKey, { algorithms: [alg] })
    t.same(Buffer.from(verified.payload), Buffer.from(payload))
    t.same(
      verified.protectedHeader,
      { alg, kid: 'k-1', typ: 'trm-receipt+json' },
      'header members in alg, kid, typ order',
    )
    t.equal(
      ours.split('.')[0],
      Buffer.from(JSON.stringify({ alg, kid: 'k-1', typ: 'trm-receipt+json' })).toString('base64url'),
    )

    const theirs = await new CompactSign(payload)
      .setProtectedHeader({ alg, kid: 'k-1' })
      .sign(keys.privateKey)
    t.same(
      Buffer.from(verifyCompact(theirs, publicKeyFor(keys.publicJwk, alg), alg) ?? []),
      Buffer.from(payload),
    )
    t.throws(
      () => publicKeyFor(keys.privateJwk, alg),
      /private part/,
      'a JWK with its private part is refused',
    )
  })

  t.test(`${alg}: any change to header, payload or signature is refused by both`, async (t) => {
    const keys = await keyPair(alg)
    const publicKey = publicKeyFor(keys.publicJwk, alg)
    const jws = signCompact({ kid: 'k-1' }, payload, privateKeyFor(keys.privateJwk, alg), alg)
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: jws.length - 1 }),
        fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.'),
        async (at, char) => {
          fc.pre(jws[at] !== char)
          const changed = `${jws.slice(0, at)}${char}${jws.slice(at + 1)}`
          const joseAccepts = await compactVerify(changed, keys.publicKey, { algorithms: [alg] }).then(
            () => true,
            () => false,
          )
          t.equal(
            verifyCompact(changed, publicKey, alg),
            undefined,
            `refused: character ${at} set to ${char}`,
          )
          // jose reads some non-canonical base64url spellings of the same bytes; compact-jws does not.
          if (joseAccepts)
            t.ok(sameBytes(changed, jws), 'jose accepted only another spelling of the same bytes')
        },
      ),
      { numRuns: 200 },
    )
  })

  t.test(`${alg}: non-canonical base64url, a dangling character and wrong lengths are refused`, async (t) => {
    const keys = await keyPair(alg)
    const publicKey = publicKeyFor(keys.publicJwk, alg)
    const jws = signCompact({ kid: 'k-1' }, payload, privateKeyFor(keys.privateJwk, alg), alg)
    const [header, body, signature] = jws.split('.') as [string, string, string]
    t.ok(verifyCompact(jws, publicKey, alg))
    // Another spelling of the same bytes: the last character's unused low bits set. In the signature
    // jose reads it as the same JWS; compact-jws refuses it, so one JWS has one string. (The header
    // and payload are signed as spelled, so another spelling there fails for both.)
    const spelled = `${header}.${body}.${otherSpelling(signature)}`
    t.ok(sameBytes(spelled, jws), 'the same bytes')
    t.ok(await compactVerify(spelled, keys.publicKey, { algorithms: [alg] }), 'jose accepts it')
    t.equal(verifyCompact(spelled, publicKey, alg), undefined, 'compact-jws refuses it')
    t.equal(payload.length % 3, 1, 'the payload leaves unused bits in its last base64url character')
    const payloadSpelled = `${header}.${otherSpelling(body)}.${signature}`
    t.ok(sameBytes(payloadSpelled, jws))
    t.equal(verifyCompact(payloadSpelled, publicKey, alg), undefined, 'payload spelled otherwise: refused')
    t.equal(verifyCompact(`${header}.${body}.${signature}A`, publicKey, alg), undefined, 'one character more')
    t.equal(verifyCompact(`${header}.${body}.${signature}==`, publicKey, alg), undefined, 'padding')
    t.equal(
      verifyCompact(`${header}.${body}.${signature.slice(0, -4)}`, publicKey, alg),
      undefined,
      'shorter',
    )
    t.equal(verifyCompact(`${header}.${body}`, publicKey, alg), undefined, 'two parts')
    t.equal(verifyCompact(`${jws}.x`, publicKey, alg), undefined, 'four parts')
    t.equal(verifyCompact(`${header}.${body}.`, publicKey, alg), undefined, 'no signature')
  })
}

t.test('a key never verifies or signs under the other algorithm', async (t) => {
  const ec = await keyPair('ES256')
  const ed = await keyPair('EdDSA')
  t.throws(() => publicKeyFor(ec.publicJwk, 'EdDSA'), /not a EdDSA key/)
  t.throws(() => publicKeyFor(ed.publicJwk, 'ES256'), /not a ES256 key/)
  t.throws(() => privateKeyFor(ec.privateJwk, 'EdDSA'))
  const p384 = await generateKeyPair('ES384', { extractable: true })
  const p384Jwk = (await exportJWK(p384.publicKey)) as Record<string, unknown>
  t.throws(() => publicKeyFor(p384Jwk, 'ES256'), 'P-384 is not ES256')
  const byEd = signCompact({ kid: 'k' }, payload, privateKeyFor(ed.privateJwk, 'EdDSA'), 'EdDSA')
  t.equal(verifyCompact(byEd, publicKeyFor(ec.publicJwk, 'ES256'), 'ES256'), undefined)
  const otherEd = await keyPair('EdDSA')
  t.equal(verifyCompact(byEd, publicKeyFor(otherEd.publicJwk, 'EdDSA'), 'EdDSA'), undefined, 'another key')
})
