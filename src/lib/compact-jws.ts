import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject, sign, verify } from 'node:crypto'
import type { AgencySigningAlg } from './jose-safe.js'

// Compact JWS signatures (RFC 7515) made and checked with node:crypto, for the paths that sign or
// check one per request: receipts, webhook signatures, submitted referrals and acknowledgements.
// jose works through WebCrypto, which on Node 20 costs about three times the CPU for the same
// signature (measured: EdDSA sign 106 µs vs 33 µs, ES256 verify 147 µs vs 56 µs per operation).
// Only the signature is done here. Header policy stays in jose-safe.ts and its callers, and every
// test that checks a hub signature or signs an agency document does it with jose, so the two are
// held to the same bytes (test/unit/compact-jws.test.ts compares them directly).

const SIGNATURE_BYTES = 64 // ES256 as R || S (RFC 7518 §3.4) and Ed25519 both

interface AlgParameters {
  digest: string | null
  keyType: 'ec' | 'ed25519'
  curve?: string
}

const PARAMETERS: Record<AgencySigningAlg, AlgParameters> = {
  ES256: { digest: 'sha256', keyType: 'ec', curve: 'prime256v1' },
  EdDSA: { digest: null, keyType: 'ed25519' },
}

function checkKeyFits(key: KeyObject, alg: AgencySigningAlg): KeyObject {
  const wanted = PARAMETERS[alg]
  if (key.asymmetricKeyType !== wanted.keyType || key.asymmetricKeyDetails?.namedCurve !== wanted.curve) {
    throw new Error(`the key is not a ${alg} key`)
  }
  return key
}

/**
 * A public key from its JWK, refused unless it is a key for `alg` (never verifies under another).
 * A JWK with a private part is refused too: in the directory it would mean a leaked key.
 */
export function publicKeyFor(jwk: Record<string, unknown>, alg: AgencySigningAlg): KeyObject {
  if ('d' in jwk) throw new Error('a verification key must not carry its private part')
  return checkKeyFits(createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }), alg)
}

/** A private key from its JWK, refused unless it is a key for `alg`. */
export function privateKeyFor(jwk: Record<string, unknown>, alg: AgencySigningAlg): KeyObject {
  return checkKeyFits(createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' }), alg)
}

function keyInput(key: KeyObject, alg: AgencySigningAlg) {
  return alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' as const } : key
}

/** `base64url(header).base64url(payload).base64url(signature)`; the header is `{ alg, kid, typ }`. */
export function signCompact(
  header: { kid: string; typ?: string },
  payload: Uint8Array,
  key: KeyObject,
  alg: AgencySigningAlg,
): string {
  const input = `${Buffer.from(JSON.stringify({ alg, kid: header.kid, typ: header.typ })).toString('base64url')}.${Buffer.from(payload).toString('base64url')}`
  const signature = sign(PARAMETERS[alg].digest, Buffer.from(input, 'ascii'), keyInput(key, alg))
  return `${input}.${signature.toString('base64url')}`
}

/** The bytes a base64url part stands for, or undefined unless it is their one unpadded spelling. */
function decodeCanonical(part: string): Buffer | undefined {
  const bytes = Buffer.from(part, 'base64url')
  return bytes.toString('base64url') === part ? bytes : undefined
}

/**
 * The payload of a compact JWS when its signature verifies with `key` under `alg`, else undefined.
 * The caller has checked the protected header (alg, typ, forbidden members). Each part must be
 * canonical base64url, so a string is read one way only. (An ES256 signature stays malleable as
 * ECDSA is: (r, n − s) verifies too. That is harmless here: duplicates and receipts are keyed on the
 * payload's digest, never on the signature.)
 */
export function verifyCompact(jws: string, key: KeyObject, alg: AgencySigningAlg): Uint8Array | undefined {
  const parts = jws.split('.')
  if (parts.length !== 3) return undefined
  const [header, payload, signature] = parts as [string, string, string]
  const signatureBytes = decodeCanonical(signature)
  const payloadBytes = decodeCanonical(payload)
  if (signatureBytes?.length !== SIGNATURE_BYTES || !payloadBytes || !decodeCanonical(header))
    return undefined
  try {
    const input = Buffer.from(`${header}.${payload}`, 'ascii')
    return verify(PARAMETERS[alg].digest, input, keyInput(key, alg), signatureBytes)
      ? payloadBytes
      : undefined
  } catch {
    return undefined
  }
}
