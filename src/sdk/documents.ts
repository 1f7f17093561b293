import {
  CompactEncrypt,
  CompactSign,
  type CryptoKey,
  compactDecrypt,
  compactVerify,
  createLocalJWKSet,
  importJWK,
  type JWK,
} from 'jose'
import { SENSITIVE_CTY, type SensitiveDetails, SensitiveDetailsSchema } from '../lib/sensitive-details.js'
import { parseStrictJson } from '../lib/strict-json.js'
import { compileInputCheck } from '../lib/validator.js'

export { type SensitiveDetails, SensitiveDetailsSchema } from '../lib/sensitive-details.js'
export {
  type ReferralDocument,
  ReferralDocumentSchema,
} from '../modules/referrals/referral-document.schema.js'

const checkDetails = compileInputCheck(SensitiveDetailsSchema)

type PrivateSigningJwk = JWK & { kid: string; alg: string }

/**
 * A signing key already imported, e.g. a non-extractable WebCrypto key kept in a browser's IndexedDB
 * (the console), with the kid and alg of its registered public JWK.
 */
export interface ImportedSigningKey {
  key: CryptoKey
  kid: string
  alg: string
}

export type SigningKey = PrivateSigningJwk | ImportedSigningKey

/** The key to sign with: imported from the JWK, or the CryptoKey as given. */
export const signingCryptoKey = (signingKey: SigningKey) =>
  'key' in signingKey ? signingKey.key : importJWK(signingKey, signingKey.alg)

async function sign(payload: unknown, signingKey: SigningKey, typ: string): Promise<string> {
  const key = await signingCryptoKey(signingKey)
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: signingKey.alg, kid: signingKey.kid, typ })
    .sign(key)
}

/** Signs a referral document as a compact JWS (`typ: trm-referral+json`) for `POST /v1/referrals`. */
export const signReferral = (document: unknown, signingKey: SigningKey) =>
  sign(document, signingKey, 'trm-referral+json')

/** Signs an acknowledgement (`typ: trm-ack+json`) for `POST /v1/referrals/{id}/acknowledgements`. */
export const signAcknowledgement = (acknowledgement: unknown, signingKey: SigningKey) =>
  sign(acknowledgement, signingKey, 'trm-ack+json')

/**
 * Encrypts identifying details to the recipient's `enc` key (ECDH-ES+A256KW, A256GCM) as a compact JWE
 * for the `sensitive` member. The plaintext is the details as JSON (`cty: application/json`), checked
 * first against `SensitiveDetailsSchema` (throws naming the member at fault). Only the holder of that
 * private key can read it; the hub cannot.
 */
export async function encryptSensitive(
  details: SensitiveDetails,
  recipientPublicJwk: JWK & { kid: string },
): Promise<string> {
  const problems = checkDetails.Errors(details)
  if (problems.length > 0 || !checkDetails.Check(details)) {
    const first = problems[0]
    throw new TypeError(
      `sensitive details do not match SensitiveDetails at ${first?.instancePath || '/'}: ${first?.message ?? 'invalid'}`,
    )
  }
  const key = await importJWK({ ...recipientPublicJwk, alg: 'ECDH-ES+A256KW' }, 'ECDH-ES+A256KW')
  return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(details)))
    .setProtectedHeader({
      alg: 'ECDH-ES+A256KW',
      enc: 'A256GCM',
      kid: recipientPublicJwk.kid,
      cty: SENSITIVE_CTY,
    })
    .encrypt(key)
}

/**
 * Opens a `sensitive` JWE with the recipient's private encryption key (a JWK, or an imported
 * CryptoKey) and returns the details, read
 * as I-JSON and checked against `SensitiveDetailsSchema`; throws when the JWE does not open, its
 * `cty` is not `application/json` (or `json`), or the plaintext is not SensitiveDetails.
 */
export async function decryptSensitive(jwe: string, privateKey: JWK | CryptoKey): Promise<SensitiveDetails> {
  // A JWK has a kty; a CryptoKey (the console's non-extractable ECDH key) has none.
  const key =
    'kty' in privateKey
      ? await importJWK({ ...privateKey, alg: 'ECDH-ES+A256KW' }, 'ECDH-ES+A256KW')
      : privateKey
  const { plaintext, protectedHeader } = await compactDecrypt(jwe, key, {
    keyManagementAlgorithms: ['ECDH-ES+A256KW'],
    contentEncryptionAlgorithms: ['A256GCM'],
  })
  const cty = protectedHeader.cty?.toLowerCase()
  if (cty !== SENSITIVE_CTY && cty !== 'json') throw new TypeError(`sensitive cty is ${protectedHeader.cty}`)
  const details = parseStrictJson(plaintext)
  if (!checkDetails.Check(details)) {
    const first = checkDetails.Errors(details)[0]
    throw new TypeError(`sensitive plaintext is not SensitiveDetails at ${first?.instancePath || '/'}`)
  }
  return details
}

/** Verifies a hub receipt against the hub JWKS (`/.well-known/jwks.json`) and returns its claims. */
export async function verifyReceipt(
  receipt: string,
  hubJwks: { keys: JWK[] },
): Promise<{
  referralId: string
  sender: string
  recipient: string
  payloadSha256: string
  receivedAt: string
}> {
  const { payload, protectedHeader } = await compactVerify(receipt, createLocalJWKSet(hubJwks), {
    algorithms: ['EdDSA'],
  })
  if (protectedHeader.typ !== 'trm-receipt+json') throw new Error('not a TRM receipt')
  return JSON.parse(new TextDecoder().decode(payload))
}

/** Verifies an agency's JWS (a referral or acknowledgement) against that agency's JWKS from the directory. */
export async function verifyAgencySignature(jws: string, agencyJwks: { keys: JWK[] }): Promise<unknown> {
  const active = { keys: agencyJwks.keys.filter((k) => k.use === 'sig') }
  const { payload } = await compactVerify(jws, createLocalJWKSet(active), { algorithms: ['ES256', 'EdDSA'] })
  return JSON.parse(new TextDecoder().decode(payload))
}
