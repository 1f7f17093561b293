import { createHash } from 'node:crypto'
import { decodeProtectedHeader, type JWSHeaderParameters } from 'jose'
import { verifyCompact } from '../../lib/compact-jws.js'
import { HubError } from '../../lib/errors.js'
import { checkProtectedHeader } from '../../lib/jose-safe.js'
import type { VerificationKey, VerificationKeySource } from '../agencies/directory-cache.js'

export interface VerifiedDocument {
  header: JWSHeaderParameters
  payload: unknown
  /** SHA-256 of the payload bytes, base64url: what duplicates and receipts are keyed on (not the signature). */
  payloadSha256: string
  /** The directory key that verified it. */
  key: VerificationKey
}

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

/**
 * Verifies a compact JWS written by `authorId`: safe header, expected `typ`, key found by `kid`
 * among the author's own active signing keys, alg pinned to that key. Payload must be JSON.
 */
export async function verifySignedDocument(
  keys: VerificationKeySource,
  authorId: string,
  jws: string,
  typ: string,
): Promise<VerifiedDocument> {
  if (!COMPACT_JWS.test(jws)) {
    throw new HubError('TRM_JWS_MALFORMED', 'The jws member must be a compact JWS (three base64url parts).', {
      pointer: '/jws',
    })
  }
  let header: JWSHeaderParameters
  try {
    header = decodeProtectedHeader(jws) as JWSHeaderParameters
  } catch {
    throw new HubError('TRM_JWS_MALFORMED', 'The protected header is not base64url JSON.', {
      pointer: '/jws',
    })
  }
  const problem = checkProtectedHeader(header, typ)
  if (problem?.problem === 'typ') {
    throw new HubError('TRM_JWS_TYP', `The protected header typ must be "${typ}".`, {
      pointer: '/jws/header/typ',
    })
  }
  if (problem) {
    const detail =
      problem.problem === 'forbidden-header'
        ? `The header member ${problem.member} is refused: keys come from the hub directory only.`
        : problem.problem === 'alg'
          ? 'The alg must be ES256 or EdDSA.'
          : 'The header must name the signing key with kid.'
    throw new HubError('TRM_JWS_HEADER_REFUSED', detail, { pointer: `/jws/header/${problem.member}` })
  }
  const key = await keys.verificationKey(authorId, header.kid!)
  if (!key) {
    throw new HubError('TRM_KEY_UNKNOWN', 'The kid is not an active signing key of the calling agency.', {
      pointer: '/jws/header/kid',
    })
  }
  if (key.alg !== header.alg) {
    throw new HubError('TRM_JWS_HEADER_REFUSED', `The key ${header.kid} signs with ${key.alg}.`, {
      pointer: '/jws/header/alg',
    })
  }
  const payloadBytes = verifyCompact(jws, key.publicKey, key.alg)
  if (!payloadBytes) {
    throw new HubError('TRM_SIGNATURE_INVALID', 'The signature does not verify with the named key.', {
      pointer: '/jws',
    })
  }
  let payload: unknown
  try {
    payload = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payloadBytes))
  } catch {
    throw new HubError('TRM_DOCUMENT_INVALID', 'The signed payload is not UTF-8 JSON.', { pointer: '/jws' })
  }
  return {
    header,
    payload,
    payloadSha256: createHash('sha256').update(payloadBytes).digest('base64url'),
    key,
  }
}
