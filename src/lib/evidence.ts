// Hub-signed evidence (issue 19, after ETSI REM / e-CODEX evidences): what happened to a referral
// after its receipt, as a compact JWS anyone holding the hub JWKS can check offline.

/** The protected header `typ` of an evidence JWS. */
export const EVIDENCE_TYP = 'trm-evidence+jws'

/** What evidence can attest: the recipient has it, has read it, or has not by when it should have. */
export const EVIDENCE_EVENTS = ['delivery', 'retrieval', 'non_delivery', 'non_retrieval'] as const

export type EvidenceEvent = (typeof EVIDENCE_EVENTS)[number]

/** The signed payload: ids, the referral document's digest (its receipt's) and the time of the event. */
export interface EvidenceClaims {
  referralId: string
  event: EvidenceEvent
  /** RFC 3339 UTC. */
  at: string
  /** The recipient agency's id. */
  recipient: string
  /** base64url SHA-256 of the referral's JWS payload, as in its receipt. */
  payloadSha256: string
}
