import { createHash } from 'node:crypto'
import type { JWSHeaderParameters } from 'jose'
import { verifyCompact } from '../../lib/compact-jws.js'
import { HubError } from '../../lib/errors.js'
import { checkProtectedHeader, decodeJsonObjectPart } from '../../lib/jose-safe.js'
import { parseStrictJson, StrictJsonError } from '../../lib/strict-json.js'
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
 * The protected header as I-JSON (jose-safe.ts). Problems of the JSON text itself name the place
 * under `/jws/header`, as the header checks below do; text that is not JSON at all is malformed.
 */
function decodeHeader(jws: string): JWSHeaderParameters {
  try {
    return decodeJsonObjectPart(jws.slice(0, jws.indexOf('.'))) as JWSHeaderParameters
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error
    if (error.problem === 'syntax') {
      throw new HubError('TRM_JWS_MALFORMED', 'The protected header is not base64url JSON.', {
        pointer: '/jws',
      })
    }
    throw new HubError('TRM_JWS_HEADER_REFUSED', `The protected header ${error.reason}`, {
      pointer: `/jws/header${error.pointer}`,
    })
  }
}

/**
 * The verified payload as I-JSON: the one value every reader of the signed bytes gets. A problem
 * names its place under `/jws/payload` (`/jws/payload/recipient` for a second `recipient`).
 */
function parsePayload(payloadBytes: Uint8Array): unknown {
  try {
    return parseStrictJson(payloadBytes)
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error
    throw new HubError('TRM_DOCUMENT_INVALID', `The signed payload ${error.reason}`, {
      pointer: `/jws/payload${error.pointer}`,
    })
  }
}

/**
 * Verifies a compact JWS written by `authorId`: safe header, expected `typ`, key found by `kid`
 * among the author's own active signing keys, alg pinned to that key. Header and payload must be
 * I-JSON (RFC 7493): UTF-8, unique member names, no lone surrogates (lib/strict-json.ts).
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
  const header = decodeHeader(jws)
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
  return {
    header,
    payload: parsePayload(payloadBytes),
    payloadSha256: createHash('sha256').update(payloadBytes).digest('base64url'),
    key,
  }
}
