import { compactVerify, createLocalJWKSet, type JWK } from 'jose'
import { EVIDENCE_EVENTS, EVIDENCE_TYP, type EvidenceClaims } from '../lib/evidence.js'

export type { EvidenceClaims, EvidenceEvent } from '../lib/evidence.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const DIGEST = /^[A-Za-z0-9_-]{43}$/

function isClaims(value: unknown): value is EvidenceClaims {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const v = value as Record<string, unknown>
  return (
    Object.keys(v).length === 5 &&
    typeof v['referralId'] === 'string' &&
    UUID.test(v['referralId']) &&
    (EVIDENCE_EVENTS as readonly unknown[]).includes(v['event']) &&
    typeof v['at'] === 'string' &&
    !Number.isNaN(Date.parse(v['at'])) &&
    typeof v['recipient'] === 'string' &&
    UUID.test(v['recipient']) &&
    typeof v['payloadSha256'] === 'string' &&
    DIGEST.test(v['payloadSha256'])
  )
}

/**
 * Verifies hub-signed evidence (`typ: trm-evidence+jws`, from an `evidence` inbox message or
 * `GET /v1/referrals/{id}/evidence`) against the hub JWKS (`/.well-known/jwks.json`), offline, and
 * returns its claims. Throws unless it is signed (EdDSA) by one of those keys and is well formed.
 * Compare `referralId` and `payloadSha256` with your referral and its receipt.
 */
export async function verifyEvidence(jws: string, hubJwks: { keys: JWK[] }): Promise<EvidenceClaims> {
  const { payload, protectedHeader } = await compactVerify(jws, createLocalJWKSet(hubJwks), {
    algorithms: ['EdDSA'],
  })
  if (protectedHeader.typ !== EVIDENCE_TYP) throw new Error('not TRM evidence')
  const claims: unknown = JSON.parse(new TextDecoder().decode(payload))
  if (!isClaims(claims)) throw new Error('TRM evidence with unexpected claims')
  return claims
}
