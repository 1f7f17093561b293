import t from 'tap'
import { checkpointCovers, chainHash as consoleChainHash } from '../../console/src/lib/trail.js'
import { type ChainedEvent, chainHash, GENESIS_HASH } from '../../src/modules/audit/audit.core.js'

// The console recomputes audit hashes in the browser with WebCrypto; they must be the hub's.
const events: ChainedEvent[] = [
  {
    seq: 1,
    at: '2026-11-22T10:00:00.123456Z',
    actor: '0191c0de-0000-7000-8000-000000000001',
    action: 'referral.submitted',
    target: { type: 'referral', id: '0191c0de-0000-7000-8000-0000000000aa' },
    referralId: '0191c0de-0000-7000-8000-0000000000aa',
    requestId: null,
    outcome: 'success',
    details: { urgency: 'urgent', minor: false, count: 3, none: null },
  },
  {
    seq: 2,
    at: '2026-11-22T10:00:01.000001Z',
    actor: 'system',
    action: 'referral.delivered',
    target: { type: 'referral', id: '0191c0de-0000-7000-8000-0000000000aa' },
    referralId: null,
    requestId: '4b6d1e0e-1111-4222-8333-944455556666',
    outcome: 'refused',
    details: { reason: 'Ünïcödé ✓ and "quotes"', z: 1, a: 2 },
  },
]

t.test('the console computes the same chain hashes as the hub', async (t) => {
  let prevHash = GENESIS_HASH
  for (const event of events) {
    const expected = chainHash(prevHash, event)
    t.equal(await consoleChainHash(prevHash, event), expected, `event ${event.seq}`)
    prevHash = expected
  }
  const changed = { ...events[0]!, details: { ...events[0]!.details, count: 4 } }
  t.not(await consoleChainHash(GENESIS_HASH, changed), chainHash(GENESIS_HASH, events[0]!), 'a change shows')
})

t.test('a checkpoint covers the events shown only with its own signed claims', async (t) => {
  const checkpoint = { seq: 7, hash: 'a'.repeat(64), at: '2026-11-22T10:00:02Z' }
  t.ok(checkpointCovers({ seq: 7, hash: 'a'.repeat(64) }, checkpoint, 5))
  t.notOk(checkpointCovers({ seq: 7, hash: 'b'.repeat(64) }, checkpoint, 5), 'other hash signed')
  t.notOk(checkpointCovers({ seq: 6, hash: 'a'.repeat(64) }, checkpoint, 5), 'other seq signed')
  t.notOk(checkpointCovers({ seq: 7, hash: 'a'.repeat(64) }, checkpoint, 8), 'an event after it')
  t.notOk(checkpointCovers(undefined, checkpoint, 5), 'nothing verified')
})
