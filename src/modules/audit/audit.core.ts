import canonicalize from 'canonicalize'

/**
 * An audit event as the log commits to it: the leaf of the transparency log's Merkle tree is
 * SHA-256(0x00 ‖ UTF-8(JCS(event))) (RFC 9162 §2.1, lib/tlog), where JCS is the RFC 8785 canonical
 * JSON of exactly the fields of {@link ChainedEvent}. The API shows each event with those same fields
 * (plus its leaf index and leaf hash), so anyone can recompute its leaf from the API's answers.
 * Events sealed by the hash chain of earlier releases keep the same canonical form and their seq.
 * It is everything about an event but its row id and its place in the tree.
 */
export interface ChainedEvent {
  seq: number
  /** RFC 3339 in UTC with microseconds, exactly as Postgres stores it. */
  at: string
  actor: string
  action: string
  target: { type: string; id: string }
  referralId: string | null
  requestId: string | null
  outcome: string
  details: Record<string, unknown>
}

/** The RFC 8785 form of the event; extra members (row ids, links) never reach the hash. */
export function canonicalEvent(event: ChainedEvent): string {
  const chained: ChainedEvent = {
    seq: event.seq,
    at: event.at,
    actor: event.actor,
    action: event.action,
    target: { type: event.target.type, id: event.target.id },
    referralId: event.referralId,
    requestId: event.requestId,
    outcome: event.outcome,
    details: event.details,
  }
  const text = canonicalize(chained)
  if (text === undefined) throw new TypeError('audit event has no JSON form')
  return text
}

/** How the stored log differs from what was sealed (`trm audit verify`). */
export type BreakKind = 'changed' | 'missing' | 'reordered' | 'forged-checkpoint'
