import { generateKeyPairSync } from 'node:crypto'
import t, { type Test } from 'tap'

import {
  consistencyProof,
  cosignatureVerifierKey,
  ed25519PublicKey,
  formatCheckpoint,
  type Hash,
  inclusionProof,
  rootOf,
  signCosignature,
  signNote,
  verifierKey,
} from '../../src/lib/tlog/index.js'
import type { ChainedEvent } from '../../src/modules/audit/audit.core.js'
import {
  type AuditCheckpointJson,
  AuditProofError,
  type AuditTrailJson,
  auditLeafHash,
  verifyCheckpoint,
  verifyConsistency,
  verifyInclusion,
  verifyTrail,
} from '../../src/sdk/index.js'

const ORIGIN = 'hub.example.eu/audit'
const REFERRAL = '0193a3f0-0000-7000-8000-00000000000a'
const b64 = (h: Uint8Array): string => Buffer.from(h).toString('base64')

const event = (seq: number): ChainedEvent => ({
  seq,
  at: `2026-11-22T10:00:${String(seq % 60).padStart(2, '0')}.123456Z`,
  actor: '0193a3f0-0000-7000-8000-000000000001',
  action: seq % 2 ? 'referral.read' : 'referral.submitted',
  target: { type: 'referral', id: seq % 3 === 0 ? REFERRAL : '0193a3f0-0000-7000-8000-00000000000b' },
  referralId: seq % 3 === 0 ? REFERRAL : '0193a3f0-0000-7000-8000-00000000000b',
  requestId: `req-${seq}`,
  outcome: 'success',
  details: { count: seq },
})

const events = Array.from({ length: 46 }, (_, i) => event(i + 1))
const leaves = events.map(auditLeafHash)
const hub = generateKeyPairSync('ed25519')
const hubVkey = verifierKey(ORIGIN, ed25519PublicKey(hub.publicKey))
const witnessKeys = [1, 2, 3].map((n) => ({
  name: `ncp.example.ro/w${n}`,
  ...generateKeyPairSync('ed25519'),
}))
const witnessVkeys = witnessKeys.map((w) => cosignatureVerifierKey(w.name, ed25519PublicKey(w.publicKey)))

/** The hub's checkpoint of the first `size` leaves, cosigned by the first `cosigners` witnesses. */
function checkpoint(size: number, cosigners = 0, tree: readonly Hash[] = leaves): AuditCheckpointJson {
  const rootHash = rootOf(tree.slice(0, size))
  const text = formatCheckpoint({ origin: ORIGIN, size, rootHash, extensions: [] })
  const lines = witnessKeys
    .slice(0, cosigners)
    .map((w) => signCosignature(text, w.name, w.privateKey, 1_764_800_000))
  return {
    origin: ORIGIN,
    size,
    rootHash: b64(rootHash),
    note: signNote(text, ORIGIN, hub.privateKey) + lines.join(''),
    cosignatures: [],
  }
}

type TrailEvent = AuditTrailJson['events'][number]

function trail(size: number): { checkpoint: AuditCheckpointJson; events: TrailEvent[] } {
  return {
    checkpoint: checkpoint(size, 2),
    events: events
      .slice(0, size)
      .filter((e) => e.referralId === REFERRAL)
      .map((e) => ({
        ...e,
        index: e.seq - 1,
        leafHash: b64(leaves[e.seq - 1] as Hash),
        proof: inclusionProof(e.seq - 1, leaves.slice(0, size)).map(b64),
      })),
  }
}

const rejects = (t: Test, fn: () => unknown, reason: string, message: RegExp, name: string) =>
  t.throws(fn, { name: 'AuditProofError', reason, message }, name)

t.test('verifyCheckpoint: the hub signature, the JSON fields, k of n witnesses', async (t) => {
  const json = checkpoint(46, 2)
  const verified = verifyCheckpoint(json, hubVkey, { witnesses: witnessVkeys, k: 2 })
  t.equal(verified.size, 46)
  t.same(
    verified.witnesses.map((w) => w.name),
    ['ncp.example.ro/w1', 'ncp.example.ro/w2'],
  )
  t.equal(verifyCheckpoint(json.note, hubVkey).size, 46, 'the text/plain note alone')
  const split = json.note.split('\n')
  const lines = split.filter((l) => l.startsWith('— ncp.'))
  const listed = {
    ...json,
    note: split.filter((l) => !l.startsWith('— ncp.')).join('\n'),
    cosignatures: lines.map((line, i) => ({ name: `ncp.example.ro/w${i + 1}`, time: 1_764_800_000, line })),
  }
  t.equal(
    verifyCheckpoint(listed, hubVkey, { witnesses: witnessVkeys, k: 2 }).witnesses.length,
    2,
    'cosignature lines listed beside the note count too',
  )
  rejects(
    t,
    () => verifyCheckpoint(json, hubVkey, { witnesses: witnessVkeys, k: 3 }),
    'witnesses',
    /2 of the 3 witness cosignatures required/,
    'k = 3 with two cosignatures',
  )
  rejects(
    t,
    () => verifyCheckpoint(checkpoint(46), hubVkey, { witnesses: witnessVkeys }),
    'witnesses',
    /0 of the 1/,
    'k defaults to 1',
  )
  t.throws(() => verifyCheckpoint(json, hubVkey, { witnesses: witnessVkeys, k: 4 }), RangeError)

  const other = generateKeyPairSync('ed25519')
  const otherVkey = verifierKey(ORIGIN, ed25519PublicKey(other.publicKey))
  rejects(
    t,
    () => verifyCheckpoint(json, otherVkey),
    'checkpoint-signature',
    /no signature by/,
    'another hub key',
  )
  const forged = { ...json, note: json.note.replace(`${ORIGIN}\n46\n`, `${ORIGIN}\n47\n`) }
  rejects(
    t,
    () => verifyCheckpoint(forged, hubVkey),
    'checkpoint-signature',
    /invalid signature/,
    'a changed note',
  )
  rejects(
    t,
    () => verifyCheckpoint({ ...json, size: 45 }, hubVkey),
    'checkpoint-fields',
    /does not say/,
    'JSON size',
  )
  rejects(
    t,
    () => verifyCheckpoint({ ...json, rootHash: checkpoint(45).rootHash }, hubVkey),
    'checkpoint-fields',
    /rootHash/,
    'JSON root hash',
  )
  const wrongOrigin = verifierKey('other.example/audit', ed25519PublicKey(hub.publicKey))
  const text = formatCheckpoint({
    origin: ORIGIN,
    size: 1,
    rootHash: rootOf(leaves.slice(0, 1)),
    extensions: [],
  })
  rejects(
    t,
    () => verifyCheckpoint(signNote(text, 'other.example/audit', hub.privateKey), wrongOrigin),
    'checkpoint-signature',
    /origin/,
    'a note whose origin is not the key name',
  )
  // A witness line over another checkpoint does not count.
  const stale = checkpoint(45, 1).note.split('\n\n')[1]?.split('\n').slice(1).join('\n') ?? ''
  t.equal(
    verifyCheckpoint({ ...checkpoint(46), note: checkpoint(46).note + stale }, hubVkey).witnesses.length,
    0,
  )
})

t.test('verifyInclusion and verifyConsistency', async (t) => {
  const cp = verifyCheckpoint(checkpoint(46), hubVkey)
  const proof = { index: 9, size: 46, hashes: inclusionProof(9, leaves).map(b64) }
  verifyInclusion(b64(leaves[9] as Hash), proof, cp)
  rejects(
    t,
    () => verifyInclusion(leaves[10] as Hash, proof, cp),
    'inclusion',
    /Leaf 9 is not in/,
    'another leaf',
  )
  rejects(
    t,
    () => verifyInclusion(leaves[9] as Hash, { ...proof, size: 45 }, cp),
    'inclusion',
    /45 leaves/,
    'size',
  )

  const older = checkpoint(20)
  const newer = checkpoint(46)
  const hashes = consistencyProof(20, leaves).map(b64)
  verifyConsistency({ from: 20, to: 46, hashes }, older, newer)
  const forkedLeaves = [
    ...leaves.slice(0, 7),
    auditLeafHash({ ...event(8), outcome: 'refused' }),
    ...leaves.slice(8),
  ]
  const forked = checkpoint(46, 0, forkedLeaves)
  rejects(
    t,
    () =>
      verifyConsistency(
        { from: 20, to: 46, hashes: consistencyProof(20, forkedLeaves).map(b64) },
        older,
        forked,
      ),
    'consistency',
    /rewritten or forked/,
    'a fork',
  )
  rejects(
    t,
    () => verifyConsistency({ from: 46, to: 20, hashes: [] }, newer, older),
    'consistency',
    /rollback/,
    'rollback',
  )
})

t.test('verifyTrail checks every event of a referral against the checkpoint', async (t) => {
  const good = trail(46)
  t.equal(good.events.length, 15)
  const result = verifyTrail(good, hubVkey, { witnesses: witnessVkeys, k: 2 })
  t.equal(result.events, 15)
  t.equal(result.checkpoint?.size, 46)
  t.same(verifyTrail({ checkpoint: null, events: [] }, hubVkey), { checkpoint: null, events: 0 })

  const altered = trail(46)
  const fifth = altered.events[4]
  if (!fifth) throw new Error('fixture')
  altered.events[4] = { ...fifth, details: { count: 999 } }
  t.throws(
    () => verifyTrail(altered, hubVkey),
    { name: 'AuditProofError', reason: 'leaf-hash', index: fifth.index },
    'an altered event is named by its leaf index',
  )
  const rehashed = trail(46)
  const sixth = rehashed.events[5]
  if (!sixth) throw new Error('fixture')
  const changed = { ...sixth, outcome: 'failed' }
  rehashed.events[5] = { ...changed, leafHash: b64(auditLeafHash(changed)) }
  t.throws(
    () => verifyTrail(rehashed, hubVkey),
    { name: 'AuditProofError', reason: 'inclusion', index: sixth.index },
    'an altered event with a matching leaf hash is not in the tree',
  )
  const moved = trail(46)
  const first = moved.events[0]
  if (!first) throw new Error('fixture')
  moved.events[0] = { ...first, index: first.index + 1 }
  t.throws(() => verifyTrail(moved, hubVkey), AuditProofError, 'a leaf index that is not seq − 1')
  t.throws(() => verifyTrail({ checkpoint: null, events: good.events }, hubVkey), AuditProofError)
})
