import { createHash } from 'node:crypto'
import canonicalize from 'canonicalize'

/**
 * The audit hash chain, as pure functions over values (no I/O):
 *
 *   hash(n) = lowercase hex SHA-256( UTF-8( prevHash(n) ‖ JCS(event(n)) ) )
 *
 * where prevHash(n) is hash(n - 1) as 64 lowercase hex characters, prevHash(1) is GENESIS_HASH (64
 * zeros), ‖ is plain concatenation and JCS is the RFC 8785 canonical JSON of exactly the fields of
 * {@link ChainedEvent}. The API shows each event with those same fields plus prevHash and hash, so
 * anyone can recompute the chain from the API's answers.
 */
export const GENESIS_HASH = '0'.repeat(64)

/** JWS `typ` of a hub-signed checkpoint { seq, hash, at }. */
export const CHECKPOINT_TYP = 'trm-checkpoint+json'

/** What the chain commits to: everything about an event except its links. */
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

export interface SealedEvent extends ChainedEvent {
  prevHash: string
  hash: string
}

export type UnsealedEvent = Omit<ChainedEvent, 'seq'>

export interface ChainHead {
  seq: number
  hash: string
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

export function chainHash(prevHash: string, event: ChainedEvent): string {
  return createHash('sha256')
    .update(prevHash + canonicalEvent(event), 'utf8')
    .digest('hex')
}

/** Gives events (in the order they are to be sealed) the next seqs after head and their hashes. */
export function sealEvents<T extends UnsealedEvent>(
  head: ChainHead | undefined,
  events: readonly T[],
): (T & { seq: number; prevHash: string; hash: string })[] {
  let seq = head?.seq ?? 0
  let prevHash = head?.hash ?? GENESIS_HASH
  return events.map((event) => {
    seq += 1
    const hash = chainHash(prevHash, { ...event, seq })
    const sealed = { ...event, seq, prevHash, hash }
    prevHash = hash
    return sealed
  })
}

/** True when this event content, put at candidate's place in the chain, gives candidate's hash. */
export function sealedAs(event: ChainedEvent, candidate: SealedEvent): boolean {
  return chainHash(candidate.prevHash, { ...event, seq: candidate.seq }) === candidate.hash
}

export type BreakKind = 'changed' | 'missing' | 'reordered' | 'forged-checkpoint'

/** The first place where the stored log is not what was sealed. */
export interface ChainBreak {
  seq: number
  kind: BreakKind
  detail: string
}

/** A stored checkpoint; `claims` is its verified JWS payload, null when the signature does not verify. */
export interface CheckpointToVerify {
  seq: number
  hash: string
  at: string
  claims: unknown
}

/**
 * Walks the chain in seq order and stops at the first break. Feed it every checkpoint of a range
 * (ascending) before the events of that range; `finish` checks what the end of the chain leaves.
 */
export class ChainVerifier {
  events = 0
  checkpoints = 0
  broken: ChainBreak | undefined
  private lastSeq: number
  private prevHash: string
  private coveredSeq: number
  private readonly queued: CheckpointToVerify[] = []

  constructor(readonly start: { fromSeq: number; prevHash: string }) {
    this.lastSeq = start.fromSeq - 1
    this.coveredSeq = start.fromSeq - 1
    this.prevHash = start.prevHash
  }

  get head(): ChainHead {
    return { seq: this.lastSeq, hash: this.prevHash }
  }

  expectCheckpoint(checkpoint: CheckpointToVerify): void {
    this.queued.push(checkpoint)
  }

  addEvent(event: SealedEvent): ChainBreak | undefined {
    if (this.broken) return this.broken
    const expected = this.lastSeq + 1
    if (event.seq > expected) return this.fail(expected, 'missing', `no event with seq ${expected}`)
    if (event.seq < expected) {
      return this.fail(event.seq, 'reordered', `seq ${event.seq} appears again after seq ${expected - 1}`)
    }
    if (event.prevHash === this.prevHash) {
      if (chainHash(this.prevHash, event) !== event.hash) {
        return this.fail(event.seq, 'changed', 'the event no longer hashes to its sealed hash')
      }
    } else if (event.seq > this.start.fromSeq && chainHash(event.prevHash, event) === event.hash) {
      // This event is intact and was chained to another hash: its predecessor was rewritten.
      return this.fail(
        event.seq - 1,
        'changed',
        `the event was rehashed: seq ${event.seq} was chained to a different hash`,
      )
    } else {
      return this.fail(event.seq, 'reordered', `the event does not follow seq ${event.seq - 1}`)
    }
    this.lastSeq = event.seq
    this.prevHash = event.hash
    this.events += 1
    while (this.queued[0] && this.queued[0].seq <= event.seq) {
      const broken = this.checkCheckpoint(this.queued.shift()!)
      if (broken) return broken
    }
    return undefined
  }

  finish(): ChainBreak | undefined {
    if (this.broken) return this.broken
    const beyond = this.queued[0]
    if (beyond) {
      return this.fail(
        this.lastSeq + 1,
        'missing',
        `the chain ends at seq ${this.lastSeq} but a signed checkpoint covers seq ${beyond.seq}`,
      )
    }
    if (this.lastSeq > this.coveredSeq) {
      return this.fail(
        this.coveredSeq + 1,
        'missing',
        `no signed checkpoint covers seq ${this.coveredSeq + 1} to ${this.lastSeq}`,
      )
    }
    return undefined
  }

  private checkCheckpoint(checkpoint: CheckpointToVerify): ChainBreak | undefined {
    const { seq } = checkpoint
    if (seq < this.lastSeq) {
      return this.fail(seq, 'forged-checkpoint', 'checkpoint supplied after its events')
    }
    if (checkpoint.claims === null) {
      return this.fail(seq, 'forged-checkpoint', 'the checkpoint signature does not verify with a hub key')
    }
    const claims = checkpoint.claims as Record<string, unknown>
    if (claims['seq'] !== seq || claims['hash'] !== checkpoint.hash || claims['at'] !== checkpoint.at) {
      return this.fail(seq, 'forged-checkpoint', 'the signed checkpoint differs from the stored one')
    }
    if (checkpoint.hash !== this.prevHash) {
      return this.fail(
        seq,
        'changed',
        `the chain at seq ${seq} is not the one the hub signed at ${checkpoint.at}: ` +
          `an event after seq ${this.coveredSeq} was altered and the chain rehashed`,
      )
    }
    this.coveredSeq = seq
    this.checkpoints += 1
    return undefined
  }

  private fail(seq: number, kind: BreakKind, detail: string): ChainBreak {
    this.broken = { seq, kind, detail }
    return this.broken
  }
}

/** Verifies whole arrays at once (tests, small ranges); the service streams through ChainVerifier. */
export function verifyChain(
  events: readonly SealedEvent[],
  checkpoints: readonly CheckpointToVerify[],
  start = { fromSeq: 1, prevHash: GENESIS_HASH },
): { verifier: ChainVerifier; broken: ChainBreak | undefined } {
  const verifier = new ChainVerifier(start)
  for (const checkpoint of checkpoints) verifier.expectCheckpoint(checkpoint)
  for (const event of events) if (verifier.addEvent(event)) break
  return { verifier, broken: verifier.finish() }
}
