import { generateKeyPairSync } from 'node:crypto'
// Sigstore's own verifiers (sigstore-js, written for Rekor), as an implementation nobody here wrote.
// @sigstore/verify exports only its bundle-level Verifier; these two functions are internal: their
// dist paths are imported directly (the package has no "exports" map, and the version is pinned).
import { LogCheckpoint, verifyCheckpoint } from '@sigstore/verify/dist/tlog/checkpoint.js'
import { verifyMerkleInclusion } from '@sigstore/verify/dist/tlog/merkle.js'
import t from 'tap'
import {
  ed25519PublicKey,
  formatCheckpoint,
  inclusionProof,
  leafHash,
  noteKeyId,
  rootOf,
  signCosignature,
  signNote,
} from '../../src/lib/tlog/index.js'

type Entry = Parameters<typeof verifyMerkleInclusion>[0]

const ORIGIN = 'hub.example.eu/audit'
const events = Array.from({ length: 70 }, (_, i) =>
  Buffer.from(JSON.stringify({ seq: i + 1, action: 'fake.event' })),
)
const leaves = events.map((e) => leafHash(e))
const hub = generateKeyPairSync('ed25519')
const keyId = noteKeyId(ORIGIN, ed25519PublicKey(hub.publicKey))
const tlogs = [
  {
    // Sigstore matches a note signature to a log by the first 4 bytes of its log ID (the key hint)
    // and by the signature's name appearing in the log's URL.
    logID: Buffer.concat([keyId, Buffer.alloc(28)]),
    baseURL: `https://${ORIGIN}`,
    publicKey: hub.publicKey,
    validFor: { start: new Date(0), end: new Date(8.64e15) },
  },
]

/** A sigstore transparency-log entry for leaf `index` with its proof against the checkpoint of `size`. */
function entry(index: number, size: number, note: string, hashes: Uint8Array[]): Entry {
  const fields = {
    logIndex: String(index),
    logId: { keyId: Buffer.from(keyId) },
    kindVersion: { kind: 'hashedrekord', version: '0.0.1' },
    integratedTime: '0',
    inclusionPromise: undefined,
    canonicalizedBody: events[index],
    inclusionProof: {
      logIndex: String(index),
      rootHash: Buffer.from(rootOf(leaves.slice(0, size))),
      treeSize: String(size),
      hashes: hashes.map((h) => Buffer.from(h)),
      checkpoint: { envelope: note },
    },
  }
  // The bundle type is protobuf-generated; the two functions read only the fields above.
  return fields as unknown as Entry
}

function noteFor(size: number): string {
  const text = formatCheckpoint({
    origin: ORIGIN,
    size,
    rootHash: rootOf(leaves.slice(0, size)),
    extensions: [],
  })
  return signNote(text, ORIGIN, hub.privateKey)
}

t.test("sigstore's Merkle inclusion verifier accepts every inclusion proof of ours", async (t) => {
  let checked = 0
  for (const size of [1, 2, 3, 7, 8, 9, 31, 64, 70]) {
    const note = noteFor(size)
    const checkpoint = LogCheckpoint.fromString(note.slice(0, note.indexOf('\n\n') + 1))
    t.equal(checkpoint.logSize, BigInt(size), 'sigstore reads our checkpoint size')
    t.same(new Uint8Array(checkpoint.logHash), rootOf(leaves.slice(0, size)), 'and root hash')
    for (let index = 0; index < size; index++) {
      const proof = inclusionProof(index, leaves.slice(0, size))
      verifyMerkleInclusion(entry(index, size, note, proof), checkpoint)
      checked++
      for (let i = 0; i < proof.length; i++) {
        const tampered = proof.map((h, j) =>
          j === i ? Uint8Array.from(h, (b, k) => (k === 0 ? b ^ 1 : b)) : h,
        )
        t.throws(() => verifyMerkleInclusion(entry(index, size, note, tampered), checkpoint), `flip ${i}`)
      }
    }
  }
  t.equal(checked, 1 + 2 + 3 + 7 + 8 + 9 + 31 + 64 + 70)
})

t.test("sigstore's checkpoint verifier accepts our signed note, cosigned or not", async (t) => {
  const note = noteFor(70)
  const proof = inclusionProof(5, leaves)
  const checkpoint = verifyCheckpoint(entry(5, 70, note, proof), tlogs)
  t.equal(checkpoint.origin, ORIGIN)
  t.equal(checkpoint.logSize, 70n)
  t.same(new Uint8Array(checkpoint.logHash), rootOf(leaves))

  const witness = generateKeyPairSync('ed25519')
  const text = note.slice(0, note.indexOf('\n\n') + 1)
  const cosigned = `${note}${signCosignature(text, 'witness.example.ro/w1', witness.privateKey, 1_764_800_000)}`
  t.equal(verifyCheckpoint(entry(5, 70, cosigned, proof), tlogs).logSize, 70n, 'with a witness line')

  const forged = note.replace(`${ORIGIN}\n70\n`, `${ORIGIN}\n71\n`)
  t.throws(() => verifyCheckpoint(entry(5, 70, forged, proof), tlogs), 'a changed checkpoint')
  const otherKey = generateKeyPairSync('ed25519')
  t.throws(
    () => verifyCheckpoint(entry(5, 70, signNote(text, ORIGIN, otherKey.privateKey), proof), tlogs),
    'signed by another key',
  )
})
