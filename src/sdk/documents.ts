import { createHmac } from 'node:crypto'
import {
  CompactEncrypt,
  CompactSign,
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

async function sign(payload: unknown, privateJwk: PrivateSigningJwk, typ: string): Promise<string> {
  const key = await importJWK(privateJwk, privateJwk.alg)
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: privateJwk.alg, kid: privateJwk.kid, typ })
    .sign(key)
}

/** Signs a referral document as a compact JWS (`typ: trm-referral+json`) for `POST /v1/referrals`. */
export const signReferral = (document: unknown, privateJwk: PrivateSigningJwk) =>
  sign(document, privateJwk, 'trm-referral+json')

/** Signs an acknowledgement (`typ: trm-ack+json`) for `POST /v1/referrals/{id}/acknowledgements`. */
export const signAcknowledgement = (acknowledgement: unknown, privateJwk: PrivateSigningJwk) =>
  sign(acknowledgement, privateJwk, 'trm-ack+json')

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
 * Opens a `sensitive` JWE with the recipient's private encryption key and returns the details, read
 * as I-JSON and checked against `SensitiveDetailsSchema`; throws when the JWE does not open, its
 * `cty` is not `application/json` (or `json`), or the plaintext is not SensitiveDetails.
 */
export async function decryptSensitive(jwe: string, privateJwk: JWK): Promise<SensitiveDetails> {
  const key = await importJWK({ ...privateJwk, alg: 'ECDH-ES+A256KW' }, 'ECDH-ES+A256KW')
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

export interface LinkageAttributes {
  givenName: string
  familyName: string
  /** ISO 8601 date, YYYY-MM-DD */
  dateOfBirth: string
  sex: string
}

/** The normalisation every member applies before hashing: NFKD, diacritics and case folded, whitespace collapsed. */
export function normaliseLinkageText(value: string): string {
  return value
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLocaleLowerCase('und')
    .replace(/\s+/gu, ' ')
    .trim()
}

/**
 * The linkage token: HMAC-SHA-256, keyed with the network key shared among member agencies (never
 * with the hub), over `given|family|YYYY-MM-DD|sex` after normalisation; base64url. Two agencies
 * that met the same person compute the same token; the hub sees only the token.
 */
export function computeLinkageToken(attributes: LinkageAttributes, networkKey: Uint8Array | string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(attributes.dateOfBirth)) throw new Error('dateOfBirth must be YYYY-MM-DD')
  const message = [
    normaliseLinkageText(attributes.givenName),
    normaliseLinkageText(attributes.familyName),
    attributes.dateOfBirth,
    normaliseLinkageText(attributes.sex),
  ].join('|')
  return createHmac('sha256', networkKey).update(message, 'utf8').digest('base64url')
}
