import type { KeyObject } from 'node:crypto'
import {
  type Checkpoint,
  type Hash,
  parseCheckpoint,
  parseVerifierKey,
  sameHash,
  signCosignature,
  TlogFormatError,
  verifyConsistency,
  verifyNote,
} from '../lib/tlog/index.js'

// The witness's decisions (issue 17), without I/O: whether the hub's latest checkpoint may be cosigned
// given the last one this witness cosigned. A witness cosigns a checkpoint only if the hub signed it
// and its tree extends every tree the witness cosigned before; so two parties shown different
// histories (a fork) or a history cut short (a rollback) cannot both hold cosigned checkpoints.

/** What the witness remembers between runs (its state file). */
export interface WitnessState {
  /** The witness's key name, as registered with the hub's operator. */
  name: string
  /** The log's (hub's) verifier key, "origin+keyid+base64(0x01‖key)". */
  logKey: string
  /** The last checkpoint cosigned: size 0 and no root before the first. */
  size: number
  rootHash: string | null
}

export type Refusal = 'bad-signature' | 'rollback' | 'fork'

export type WitnessStep =
  /** The consistency proof from the state's size to this checkpoint's is needed first. */
  | { kind: 'need-proof'; from: number; to: number; checkpoint: Checkpoint; text: string }
  | { kind: 'refuse'; reason: Refusal; message: string }
  | {
      kind: 'cosign'
      checkpoint: Checkpoint
      /** The body to post: the checkpoint text, a blank line, the cosignature line. */
      note: string
      /** The state to save before posting. */
      state: WitnessState
    }

const b64 = (hash: Uint8Array): string => Buffer.from(hash).toString('base64')

/** The witness's state file, checked: throws TlogFormatError naming what is wrong. */
export function parseWitnessState(value: unknown): WitnessState {
  if (typeof value !== 'object' || value === null) throw new TlogFormatError('the state is not a JSON object')
  const { name, logKey, size, rootHash } = value as Record<string, unknown>
  if (typeof name !== 'string' || typeof logKey !== 'string') {
    throw new TlogFormatError('the state needs "name" and "logKey"')
  }
  parseVerifierKey(logKey)
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new TlogFormatError('"size" must be a whole number')
  }
  if (size === 0 && rootHash === null) return { name, logKey, size, rootHash: null }
  if (size === 0 || typeof rootHash !== 'string' || Buffer.from(rootHash, 'base64').length !== 32) {
    throw new TlogFormatError(
      '"rootHash" must be the base64 root of the last cosigned checkpoint (null at size 0)',
    )
  }
  return { name, logKey, size, rootHash }
}

/**
 * Step one: reads the hub's latest checkpoint note. Refuses a note the log key did not sign, and a
 * tree smaller than the one last cosigned (a rollback) or of the same size with another root (a
 * fork); asks for a consistency proof when the tree grew.
 */
export function assessCheckpoint(
  state: WitnessState,
  note: string,
  witness: { privateKey: KeyObject },
  now: number,
): WitnessStep {
  const log = parseVerifierKey(state.logKey)
  let text: string
  let checkpoint: Checkpoint
  try {
    text = verifyNote(note, log.name, log.publicKey)
    checkpoint = parseCheckpoint(text)
  } catch (error) {
    if (!(error instanceof TlogFormatError)) throw error
    return refuse(
      'bad-signature',
      `the checkpoint does not verify with the log key ${state.logKey}: ${error.message}`,
    )
  }
  if (checkpoint.origin !== log.name) {
    return refuse(
      'bad-signature',
      `the checkpoint's origin ${checkpoint.origin} is not the log key's name ${log.name}`,
    )
  }
  if (checkpoint.size < state.size) {
    return refuse(
      'rollback',
      `the log shrank: its checkpoint has ${checkpoint.size} leaves, this witness cosigned ${state.size} (a rollback)`,
    )
  }
  if (state.size === 0 || state.rootHash === null) return cosign(state, checkpoint, text, witness, now)
  if (checkpoint.size === state.size) {
    if (!sameHash(checkpoint.rootHash, new Uint8Array(Buffer.from(state.rootHash, 'base64')))) {
      return refuse(
        'fork',
        `the checkpoint of ${checkpoint.size} leaves has another root hash than the one this witness cosigned (a fork)`,
      )
    }
    return cosign(state, checkpoint, text, witness, now)
  }
  return { kind: 'need-proof', from: state.size, to: checkpoint.size, checkpoint, text }
}

/**
 * Step two: with the consistency proof the hub gave from the state's size to the checkpoint's,
 * cosigns, or refuses when the proof does not show that the new tree extends the cosigned one.
 */
export function decideWithProof(
  state: WitnessState,
  step: Extract<WitnessStep, { kind: 'need-proof' }>,
  proof: readonly Hash[],
  witness: { privateKey: KeyObject },
  now: number,
): WitnessStep {
  const cosignedRoot = new Uint8Array(Buffer.from(state.rootHash ?? '', 'base64'))
  if (!verifyConsistency(step.from, step.to, proof, cosignedRoot, step.checkpoint.rootHash)) {
    return refuse(
      'fork',
      `the tree of ${step.to} leaves does not extend the tree of ${step.from} leaves this witness cosigned: ` +
        'the consistency proof fails (the log was rewritten or forked)',
    )
  }
  return cosign(state, step.checkpoint, step.text, witness, now)
}

function refuse(reason: Refusal, message: string): WitnessStep {
  return { kind: 'refuse', reason, message }
}

function cosign(
  state: WitnessState,
  checkpoint: Checkpoint,
  text: string,
  witness: { privateKey: KeyObject },
  now: number,
): WitnessStep {
  const line = signCosignature(text, state.name, witness.privateKey, Math.floor(now / 1000))
  return {
    kind: 'cosign',
    checkpoint,
    note: `${text}\n${line}`,
    state: { ...state, size: checkpoint.size, rootHash: b64(checkpoint.rootHash) },
  }
}
