import canonicalize from 'canonicalize'

/**
 * The audit chain's hash as the hub defines it (src/modules/audit/audit.core.ts, README "Audit log"):
 * lowercase hex SHA-256 of prevHash ‖ JCS(event), over exactly these members. WebCrypto instead of
 * node:crypto, so it runs in the browser; test/unit/console-trail.test.ts holds it to the hub's.
 */
export interface ChainedEvent {
  seq: number
  at: string
  actor: string
  action: string
  target: { type: string; id: string }
  referralId: string | null
  requestId: string | null
  outcome: string
  details: Record<string, unknown>
}

export async function chainHash(prevHash: string, event: ChainedEvent): Promise<string> {
  const canonical = canonicalize({
    seq: event.seq,
    at: event.at,
    actor: event.actor,
    action: event.action,
    target: { type: event.target.type, id: event.target.id },
    referralId: event.referralId,
    requestId: event.requestId,
    outcome: event.outcome,
    details: event.details,
  })
  if (canonical === undefined) throw new TypeError('audit event has no JSON form')
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(prevHash + canonical))
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, '0')).join('')
}

/** True when the event's own hash is what its content and prevHash give. */
export async function eventHashHolds(event: ChainedEvent & { prevHash: string; hash: string }) {
  return (await chainHash(event.prevHash, event)) === event.hash
}

export const CHECKPOINT_TYP = 'trm-checkpoint+json'

/** The checkpoint's signed claims are the ones listed beside it, and it covers every event shown. */
export function checkpointCovers(
  claims: { seq?: unknown; hash?: unknown; at?: unknown } | undefined,
  checkpoint: { seq: number; hash: string; at: string },
  lastEventSeq: number,
): boolean {
  return (
    claims !== undefined &&
    claims.seq === checkpoint.seq &&
    claims.hash === checkpoint.hash &&
    checkpoint.seq >= lastEventSeq
  )
}
