import {
  type Checkpoint,
  verifyConsistency as consistent,
  type Hash,
  verifyInclusion as included,
  leafHash,
  parseCheckpoint,
  parseVerifierKey,
  sameHash,
  TlogFormatError,
  verifyCosignature,
  verifyNote,
} from '../lib/tlog/index.js'
import { type ChainedEvent, canonicalEvent } from '../modules/audit/audit.core.js'

// Checking the hub's audit log as any party can (issue 17): a checkpoint signed by the hub and
// cosigned by witnesses, an event's inclusion in it, and that a later checkpoint extends an earlier
// one. Everything here reads the JSON the hub serves and trusts only the keys it is given.

/** Why a check failed: `reason` says which check, `index` the leaf at fault when there is one. */
export class AuditProofError extends Error {
  override name = 'AuditProofError'
  constructor(
    readonly reason:
      | 'checkpoint-format'
      | 'checkpoint-signature'
      | 'checkpoint-fields'
      | 'witnesses'
      | 'leaf-hash'
      | 'inclusion'
      | 'consistency',
    message: string,
    readonly index?: number,
  ) {
    super(message)
  }
}

/** GET /v1/audit/checkpoint with Accept: application/json (also the `checkpoint` of a trail). */
export interface AuditCheckpointJson {
  origin: string
  size: number
  rootHash: string
  at?: string
  note: string
  cosignatures?: { name: string; time: number; line: string }[]
}

/** A checkpoint whose hub signature (and witness quorum) verified. */
export interface VerifiedCheckpoint extends Checkpoint {
  /** The checkpoint text the signatures cover. */
  text: string
  /** The witnesses (of those given) whose cosignature verified, with the time each signed at. */
  witnesses: { name: string; time: number }[]
}

export interface VerifyCheckpointOptions {
  /** Witness verifier keys ("name+keyid+base64(0x04‖key)", as GET /v1/audit/witnesses lists them). */
  witnesses?: readonly string[]
  /** How many of `witnesses` must have cosigned: 1 by default when witnesses are given. */
  k?: number
}

/** GET /v1/audit/proofs/inclusion and …/consistency. */
export interface InclusionProofJson {
  index: number
  size: number
  hashes: readonly string[]
}
export interface ConsistencyProofJson {
  from: number
  to: number
  hashes: readonly string[]
}

/** GET /v1/referrals/{id}/audit. */
export interface AuditTrailJson {
  checkpoint: AuditCheckpointJson | null
  events: readonly (ChainedEvent & { index: number; leafHash: string; proof: readonly string[] })[]
}

function hashFrom(base64: string | Uint8Array, what: string): Hash {
  if (typeof base64 !== 'string') return base64
  const bytes = new Uint8Array(Buffer.from(base64, 'base64'))
  if (bytes.length !== 32 || Buffer.from(bytes).toString('base64') !== base64) {
    throw new AuditProofError('checkpoint-format', `${what} is not a base64 SHA-256 hash`)
  }
  return bytes
}

const hashesFrom = (hashes: readonly string[], what: string): Hash[] => hashes.map((h) => hashFrom(h, what))

function signatureLines(note: string): string[] {
  return note
    .slice(note.lastIndexOf('\n\n') + 2)
    .split('\n')
    .filter((line) => line.length > 0)
}

/**
 * Verifies a checkpoint note (text/plain from GET /v1/audit/checkpoint, or the JSON form): the hub
 * key `hubVkey` ("name+keyid+base64(0x01‖key)", key name = the log's origin) signed it, and at least
 * `k` of the given witnesses cosigned it. For the JSON form, its origin, size and rootHash must be the
 * note's. Throws AuditProofError.
 */
export function verifyCheckpoint(
  note: string | AuditCheckpointJson,
  hubVkey: string,
  options: VerifyCheckpointOptions = {},
): VerifiedCheckpoint {
  const witnesses = options.witnesses ?? []
  const k = options.k ?? (witnesses.length > 0 ? 1 : 0)
  if (!Number.isSafeInteger(k) || k < 0 || k > witnesses.length) {
    throw new RangeError(`k must be a whole number from 0 to the number of witnesses (${witnesses.length})`)
  }
  const noteText = typeof note === 'string' ? note : note.note
  let text: string
  let checkpoint: Checkpoint
  const hub = parseKey(hubVkey, 'the hub key')
  try {
    text = verifyNote(noteText, hub.name, hub.publicKey)
    checkpoint = parseCheckpoint(text)
  } catch (error) {
    if (!(error instanceof TlogFormatError)) throw error
    const reason = error.name === 'TlogSignatureError' ? 'checkpoint-signature' : 'checkpoint-format'
    throw new AuditProofError(reason, `The checkpoint does not verify with the hub key: ${error.message}.`)
  }
  if (checkpoint.origin !== hub.name) {
    throw new AuditProofError(
      'checkpoint-signature',
      `The checkpoint's origin ${JSON.stringify(checkpoint.origin)} is not the hub key's name ${JSON.stringify(hub.name)}.`,
    )
  }
  if (typeof note !== 'string') {
    if (note.origin !== checkpoint.origin || note.size !== checkpoint.size) {
      throw new AuditProofError(
        'checkpoint-fields',
        'The checkpoint JSON does not say what its signed note says.',
      )
    }
    if (!sameHash(hashFrom(note.rootHash, 'rootHash'), checkpoint.rootHash)) {
      throw new AuditProofError(
        'checkpoint-fields',
        "The checkpoint JSON's rootHash is not the signed note's.",
      )
    }
  }
  // The JSON form lists the cosignature lines beside the note too; a line counts once either way.
  const lines = [
    ...new Set([
      ...signatureLines(noteText),
      ...(typeof note === 'string' ? [] : (note.cosignatures ?? []).map((c) => c.line)),
    ]),
  ]
  const cosigned: { name: string; time: number }[] = []
  for (const vkey of witnesses) {
    const witness = parseKey(vkey, 'a witness key')
    for (const line of lines.filter((l) => l.startsWith(`— ${witness.name} `))) {
      const verified = verifyCosignature(text, line, witness.name, witness.publicKey)
      if (verified && !cosigned.some((c) => c.name === witness.name)) {
        cosigned.push({ name: witness.name, time: verified.time })
      }
    }
  }
  if (cosigned.length < k) {
    const names = cosigned.map((c) => c.name).join(', ') || 'none'
    throw new AuditProofError(
      'witnesses',
      `The checkpoint of size ${checkpoint.size} has ${cosigned.length} of the ${k} witness cosignatures required (verified: ${names}).`,
    )
  }
  return { ...checkpoint, text, witnesses: cosigned }
}

function parseKey(vkey: string, what: string) {
  try {
    return parseVerifierKey(vkey)
  } catch (error) {
    if (error instanceof TlogFormatError)
      throw new RangeError(`${what} is not a verifier key: ${error.message}`)
    throw error
  }
}

/**
 * Verifies that the leaf (its hash, base64 or bytes) is at `proof.index` in the tree of the checkpoint
 * (whose size the proof must name). Throws AuditProofError.
 */
export function verifyInclusion(
  leaf: string | Uint8Array,
  proof: InclusionProofJson,
  checkpoint: { size: number; rootHash: string | Uint8Array },
): void {
  if (proof.size !== checkpoint.size) {
    throw new AuditProofError(
      'inclusion',
      `The inclusion proof is for a tree of ${proof.size} leaves, the checkpoint's has ${checkpoint.size}.`,
      proof.index,
    )
  }
  const root = hashFrom(checkpoint.rootHash, 'rootHash')
  const hashes = hashesFrom(proof.hashes, 'A proof hash')
  if (!included(hashFrom(leaf, 'The leaf hash'), proof.index, proof.size, hashes, root)) {
    throw new AuditProofError(
      'inclusion',
      `Leaf ${proof.index} is not in the checkpoint's tree of ${proof.size} leaves: its inclusion proof does not lead to the root hash.`,
      proof.index,
    )
  }
}

/**
 * Verifies that the tree of `newer` extends the tree of `older` (same leaves first): the log was
 * not rewritten or forked between the two checkpoints. Throws AuditProofError.
 */
export function verifyConsistency(
  proof: ConsistencyProofJson,
  older: { size: number; rootHash: string | Uint8Array },
  newer: { size: number; rootHash: string | Uint8Array },
): void {
  if (proof.from !== older.size || proof.to !== newer.size) {
    throw new AuditProofError(
      'consistency',
      `The consistency proof is from ${proof.from} to ${proof.to} leaves, the checkpoints have ${older.size} and ${newer.size}.`,
    )
  }
  if (newer.size < older.size) {
    throw new AuditProofError(
      'consistency',
      `The log shrank from ${older.size} to ${newer.size} leaves (a rollback).`,
    )
  }
  const hashes = hashesFrom(proof.hashes, 'A proof hash')
  const fromRoot = hashFrom(older.rootHash, 'rootHash')
  const toRoot = hashFrom(newer.rootHash, 'rootHash')
  if (!consistent(proof.from, proof.to, hashes, fromRoot, toRoot)) {
    throw new AuditProofError(
      'consistency',
      `The tree of ${proof.to} leaves does not extend the tree of ${proof.from} leaves seen before: the log was rewritten or forked.`,
    )
  }
}

/** The RFC 9162 leaf hash of an audit event as the hub hashes it: SHA-256(0x00 ‖ JCS(event)). */
export function auditLeafHash(event: ChainedEvent): Hash {
  return leafHash(new TextEncoder().encode(canonicalEvent(event)))
}

/**
 * Verifies a referral's audit trail (GET /v1/referrals/{id}/audit) with the hub key alone: the
 * checkpoint's signature (and witness quorum), then for each event its leaf hash, recomputed from
 * the event itself, and its inclusion proof against that checkpoint. Throws AuditProofError naming
 * the first event at fault; returns the verified checkpoint (null when the hub has sealed none yet
 * and the trail lists no event) and how many events were checked.
 */
export function verifyTrail(
  trail: AuditTrailJson,
  hubVkey: string,
  options: VerifyCheckpointOptions = {},
): { checkpoint: VerifiedCheckpoint | null; events: number } {
  if (trail.checkpoint === null) {
    if (trail.events.length > 0) {
      throw new AuditProofError(
        'checkpoint-format',
        'The trail lists events but no checkpoint to prove them against.',
      )
    }
    return { checkpoint: null, events: 0 }
  }
  const checkpoint = verifyCheckpoint(trail.checkpoint, hubVkey, options)
  for (const event of trail.events) {
    const where = `Event seq ${event.seq} (leaf ${event.index})`
    if (event.index !== event.seq - 1) {
      throw new AuditProofError('leaf-hash', `${where}: its leaf index is not seq − 1.`, event.index)
    }
    if (!sameHash(auditLeafHash(event), hashFrom(event.leafHash, 'leafHash'))) {
      throw new AuditProofError(
        'leaf-hash',
        `${where} is not the event the log holds: its content does not hash to its leafHash.`,
        event.index,
      )
    }
    verifyInclusion(
      event.leafHash,
      { index: event.index, size: checkpoint.size, hashes: event.proof },
      checkpoint,
    )
  }
  return { checkpoint, events: trail.events.length }
}
