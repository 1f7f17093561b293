import { generateKeyPairSync } from 'node:crypto'
import t from 'tap'
import { checkpointSigned, leafHash as consoleLeafHash, inclusionHolds } from '../../console/src/lib/trail.js'
import { formatCheckpoint, inclusionProof, rootOf, signNote } from '../../src/lib/tlog/index.js'
import type { ChainedEvent } from '../../src/modules/audit/audit.core.js'
import { leafOf, perfectRoot } from '../../src/modules/audit/audit.tree.js'

// The console checks audit trails in the browser with WebCrypto; its answers must be the hub's.
const event = (seq: number): ChainedEvent => ({
  seq,
  at: '2026-11-22T10:00:00.123456Z',
  actor: seq % 2 ? 'system' : '0191c0de-0000-7000-8000-000000000001',
  action: 'referral.delivered',
  target: { type: 'referral', id: '0191c0de-0000-7000-8000-0000000000aa' },
  referralId: seq % 3 ? null : '0191c0de-0000-7000-8000-0000000000aa',
  requestId: null,
  outcome: 'success',
  details: { reason: 'Ünïcödé ✓ and "quotes"', z: seq, a: 2, none: null },
})

t.test('the console computes the same leaf hashes and accepts the hub inclusion proofs', async (t) => {
  const events = Array.from({ length: 13 }, (_, i) => event(i + 1))
  const leaves = events.map(leafOf)
  for (const [i, e] of events.entries()) {
    t.same(Buffer.from(await consoleLeafHash(e)), Buffer.from(leaves[i]!), `leaf ${i}`)
  }
  const root = rootOf(leaves)
  for (let i = 0; i < leaves.length; i += 1) {
    const proof = inclusionProof(i, leaves)
    t.ok(await inclusionHolds(leaves[i]!, i, leaves.length, proof, root), `inclusion of ${i}`)
    t.notOk(await inclusionHolds(leaves[(i + 1) % 13]!, i, leaves.length, proof, root), 'another leaf fails')
  }
  t.ok(perfectRoot(leaves.slice(0, 8)))
  const changed = { ...events[0]!, details: { ...events[0]!.details, z: 4 } }
  t.not(Buffer.from(await consoleLeafHash(changed)).toString('hex'), Buffer.from(leaves[0]!).toString('hex'))
})

t.test('the console verifies the hub checkpoint note with the JWKS key only', async (t) => {
  const hub = generateKeyPairSync('ed25519')
  const other = generateKeyPairSync('ed25519')
  const x = hub.publicKey.export({ format: 'jwk' }).x
  const otherX = other.publicKey.export({ format: 'jwk' }).x
  const origin = 'hub.example.eu/audit'
  const rootHash = Buffer.alloc(32, 7).toString('base64')
  const note = signNote(
    formatCheckpoint({ origin, size: 5, rootHash: Buffer.alloc(32, 7), extensions: [] }),
    origin,
    hub.privateKey,
  )
  const checkpoint = { origin, size: 5, rootHash, note }
  t.ok(await checkpointSigned(checkpoint, [{ x: otherX }, { x }]))
  t.notOk(await checkpointSigned(checkpoint, [{ x: otherX }]), 'another key')
  t.notOk(await checkpointSigned({ ...checkpoint, size: 6 }, [{ x }]), 'fields that are not the note')
})
