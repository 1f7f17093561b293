import { generateKeyPairSync } from 'node:crypto'
import t, { type Test } from 'tap'
import {
  assessCheckpoint,
  decideWithProof,
  parseWitnessState,
  type WitnessState,
  type WitnessStep,
} from '../../src/cli/witness.core.js'
import {
  consistencyProof,
  ed25519PublicKey,
  formatCheckpoint,
  type Hash,
  leafHash,
  parseNote,
  rootOf,
  signNote,
  TlogFormatError,
  verifierKey,
  verifyCosignature,
} from '../../src/lib/tlog/index.js'

const ORIGIN = 'hub.example.eu/audit'
const WITNESS = 'witness.ncp.example.ro'
const NOW = 1_764_800_000_000
const hub = generateKeyPairSync('ed25519')
const witness = generateKeyPairSync('ed25519')
const leaves = Array.from({ length: 40 }, (_, i) => leafHash(new TextEncoder().encode(`fake event ${i + 1}`)))
// The forked history: the same length, but event 4 says something else.
const forked = leaves.map((h, i) =>
  i === 3 ? leafHash(new TextEncoder().encode('fake event 4, rewritten')) : h,
)
const b64 = (h: Uint8Array) => Buffer.from(h).toString('base64')

function note(size: number, tree: readonly Hash[] = leaves, key = hub.privateKey): string {
  const text = formatCheckpoint({
    origin: ORIGIN,
    size,
    rootHash: rootOf(tree.slice(0, size)),
    extensions: [],
  })
  return signNote(text, ORIGIN, key)
}

const start: WitnessState = {
  name: WITNESS,
  logKey: verifierKey(ORIGIN, ed25519PublicKey(hub.publicKey)),
  size: 0,
  rootHash: null,
}
const at = (size: number, tree: readonly Hash[] = leaves): WitnessState => ({
  ...start,
  size,
  rootHash: b64(rootOf(tree.slice(0, size))),
})

function cosigned(t: Test, step: WitnessStep, size: number) {
  if (step.kind !== 'cosign') {
    t.fail(`expected a cosignature, got ${JSON.stringify(step)}`)
    return
  }
  t.equal(step.checkpoint.size, size)
  t.same(step.state, at(size), 'the state moves to the cosigned checkpoint')
  const { text, signatures } = parseNote(step.note)
  t.equal(signatures.length, 1, 'the body is the checkpoint text and one cosignature line')
  const line = step.note.slice(text.length + 1)
  t.same(verifyCosignature(text, line, WITNESS, ed25519PublicKey(witness.publicKey)), { time: NOW / 1000 })
}

function refused(t: Test, step: WitnessStep, reason: string, message: RegExp) {
  t.match(step, { kind: 'refuse', reason, message }, `refused: ${reason}`)
}

t.test('the first checkpoint is cosigned; a grown tree is cosigned with a consistency proof', async (t) => {
  cosigned(t, assessCheckpoint(start, note(10), witness, NOW), 10)
  const step = assessCheckpoint(at(10), note(25), witness, NOW)
  t.match(step, { kind: 'need-proof', from: 10, to: 25 })
  if (step.kind !== 'need-proof') return
  cosigned(t, decideWithProof(at(10), step, consistencyProof(10, leaves.slice(0, 25)), witness, NOW), 25)
  cosigned(t, assessCheckpoint(at(25), note(25), witness, NOW), 25)
})

t.test('a forked tree is refused', async (t) => {
  // The witness cosigned 10 leaves of the true history; the hub now shows 25 leaves of another one.
  const step = assessCheckpoint(at(10), note(25, forked), witness, NOW)
  if (step.kind !== 'need-proof') throw new Error('expected a proof request')
  refused(
    t,
    decideWithProof(at(10), step, consistencyProof(10, forked.slice(0, 25)), witness, NOW),
    'fork',
    /does not extend the tree of 10 leaves/,
  )
  refused(
    t,
    decideWithProof(at(10), step, consistencyProof(10, leaves.slice(0, 25)), witness, NOW),
    'fork',
    /rewritten or forked/,
  )
  refused(t, assessCheckpoint(at(25), note(25, forked), witness, NOW), 'fork', /another root hash/)
  refused(t, decideWithProof(at(10), step, [], witness, NOW), 'fork', /consistency proof fails/)
})

t.test('a rollback is refused', async (t) => {
  refused(
    t,
    assessCheckpoint(at(25), note(20), witness, NOW),
    'rollback',
    /20 leaves, this witness cosigned 25/,
  )
})

t.test('a checkpoint the log key did not sign is refused', async (t) => {
  const other = generateKeyPairSync('ed25519')
  refused(
    t,
    assessCheckpoint(at(10), note(25, leaves, other.privateKey), witness, NOW),
    'bad-signature',
    /log key/,
  )
  const altered = note(25).replace(`${ORIGIN}\n25\n`, `${ORIGIN}\n26\n`)
  refused(t, assessCheckpoint(at(10), altered, witness, NOW), 'bad-signature', /invalid signature/)
  refused(t, assessCheckpoint(at(10), 'not a note', witness, NOW), 'bad-signature', /blank line/)
})

t.test('the state file is checked', async (t) => {
  t.same(parseWitnessState(JSON.parse(JSON.stringify(at(10)))), at(10))
  t.same(parseWitnessState(start), start)
  for (const bad of [
    null,
    [],
    { ...start, logKey: 'nope' },
    { ...start, size: -1 },
    { ...start, size: 3 },
    { ...at(10), rootHash: 'short' },
    { ...start, rootHash: b64(rootOf(leaves)) },
  ]) {
    t.throws(() => parseWitnessState(bad), TlogFormatError, JSON.stringify(bad))
  }
})
