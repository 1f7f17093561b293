import { createHash } from 'node:crypto'
import t from 'tap'
import {
  type CheckpointToVerify,
  canonicalEvent,
  chainHash,
  GENESIS_HASH,
  type SealedEvent,
  sealEvents,
  sealedAs,
  type UnsealedEvent,
  verifyChain,
} from '../../src/modules/audit/audit.core.js'

const event = (n: number, overrides: Partial<UnsealedEvent> = {}): UnsealedEvent => ({
  at: `2026-11-22T10:00:${String(n % 60).padStart(2, '0')}.123456Z`,
  actor: '0193a3f0-0000-7000-8000-000000000001',
  action: n % 2 ? 'referral.read' : 'referral.submitted',
  target: { type: 'referral', id: `0193a3f0-0000-7000-8000-${String(n).padStart(12, '0')}` },
  referralId: `0193a3f0-0000-7000-8000-${String(n).padStart(12, '0')}`,
  requestId: `req-${n}`,
  outcome: 'success',
  details: { role: 'sender', count: n },
  ...overrides,
})

/** A sealed chain of n events with a checkpoint (claims as the hub would sign them) every `every` events. */
function chain(n: number, every = 4) {
  const events: SealedEvent[] = sealEvents(
    undefined,
    Array.from({ length: n }, (_, i) => event(i + 1)),
  )
  const checkpoints: CheckpointToVerify[] = events
    .filter((e) => e.seq % every === 0 || e.seq === n)
    .map((e) => {
      const at = `2026-11-22T11:00:00.${String(e.seq).padStart(3, '0')}Z`
      return { seq: e.seq, hash: e.hash, at, claims: { seq: e.seq, hash: e.hash, at } }
    })
  return { events, checkpoints }
}

t.test('the hash is SHA-256 over prevHash followed by the RFC 8785 form of the event', async (t) => {
  const sealed = {
    seq: 7,
    at: '2026-11-22T10:00:00.000001Z',
    actor: 'system',
    action: 'agency.created',
    target: { type: 'agency', id: 'x' },
    referralId: null,
    requestId: null,
    outcome: 'success',
    details: { z: 1.0, a: 'é', n: 1e21, list: [3, 'b'] },
    // Members outside the chained event never count.
    id: 99,
    prevHash: 'f'.repeat(64),
    hash: 'ignored',
  }
  const expectedJson =
    '{"action":"agency.created","actor":"system","at":"2026-11-22T10:00:00.000001Z",' +
    '"details":{"a":"é","list":[3,"b"],"n":1e+21,"z":1},"outcome":"success","referralId":null,' +
    '"requestId":null,"seq":7,"target":{"id":"x","type":"agency"}}'
  t.equal(canonicalEvent(sealed), expectedJson, 'keys sorted, numbers in ECMAScript form, no whitespace')
  const expected = createHash('sha256')
    .update(`${'f'.repeat(64)}${expectedJson}`, 'utf8')
    .digest('hex')
  t.equal(chainHash('f'.repeat(64), sealed), expected)
  t.match(expected, /^[0-9a-f]{64}$/)
  t.equal(GENESIS_HASH, '0'.repeat(64), 'the genesis prevHash is 64 zeros')
})

t.test('sealing numbers events densely from the head and links each to the one before', async (t) => {
  const first = sealEvents(undefined, [event(1), event(2)])
  t.same(
    first.map((e) => e.seq),
    [1, 2],
  )
  t.equal(first[0]!.prevHash, GENESIS_HASH)
  t.equal(first[1]!.prevHash, first[0]!.hash)
  const next = sealEvents({ seq: 2, hash: first[1]!.hash }, [event(3)])
  t.equal(next[0]!.seq, 3)
  t.equal(next[0]!.prevHash, first[1]!.hash)
  t.equal(next[0]!.hash, chainHash(first[1]!.hash, { ...event(3), seq: 3 }))
  t.not(
    chainHash(GENESIS_HASH, { ...event(1), seq: 1 }),
    chainHash(GENESIS_HASH, { ...event(1), seq: 2 }),
    'the seq is part of what is hashed',
  )
})

t.test('an intact chain verifies, from the start or from any seq', async (t) => {
  const { events, checkpoints } = chain(10)
  const whole = verifyChain(events, checkpoints)
  t.equal(whole.broken, undefined)
  t.equal(whole.verifier.events, 10)
  t.equal(whole.verifier.checkpoints, 3)
  t.same(whole.verifier.head, { seq: 10, hash: events[9]!.hash })
  const from = verifyChain(
    events.slice(5),
    checkpoints.filter((c) => c.seq >= 6),
    { fromSeq: 6, prevHash: events[5]!.prevHash },
  )
  t.equal(from.broken, undefined)
  t.equal(from.verifier.events, 5)
  t.same(verifyChain([], []).broken, undefined, 'an empty log is intact')
})

t.test('each kind of break is found at the right seq', async (t) => {
  const { events, checkpoints } = chain(10)
  const at = (seq: number) => events.findIndex((e) => e.seq === seq)
  const cases: [string, SealedEvent[], CheckpointToVerify[], number, string][] = [
    [
      'a field changed',
      events.map((e) => (e.seq === 5 ? { ...e, actor: 'someone-else' } : e)),
      checkpoints,
      5,
      'changed',
    ],
    [
      'details changed',
      events.map((e) => (e.seq === 2 ? { ...e, details: { role: 'recipient', count: 2 } } : e)),
      checkpoints,
      2,
      'changed',
    ],
    ['an event deleted', events.filter((e) => e.seq !== 6), checkpoints, 6, 'missing'],
    ['the first event deleted', events.slice(1), checkpoints, 1, 'missing'],
    ['the last event deleted', events.slice(0, 9), checkpoints, 10, 'missing'],
    [
      'two rows swapped with their seqs',
      events.map((e) =>
        e.seq === 3 ? { ...events[at(7)]!, seq: 3 } : e.seq === 7 ? { ...events[at(3)]!, seq: 7 } : e,
      ),
      checkpoints,
      3,
      'reordered',
    ],
    [
      'an event changed and rehashed, its successor left alone',
      events.map((e) => {
        if (e.seq !== 5) return e
        const changed = { ...e, action: 'referral.erased' }
        return { ...changed, hash: chainHash(e.prevHash, changed) }
      }),
      checkpoints,
      5,
      'changed',
    ],
    [
      'the whole tail rewritten and rehashed',
      (() => {
        const head = events.slice(0, 4)
        const tail = sealEvents(
          { seq: 4, hash: events[3]!.hash },
          events
            .slice(4)
            .map(({ seq: _s, prevHash: _p, hash: _h, ...e }) =>
              e.requestId === 'req-6' ? { ...e, outcome: 'refused' } : e,
            ),
        )
        return [...head, ...tail]
      })(),
      checkpoints,
      8,
      'changed',
    ],
    [
      'a checkpoint signature that does not verify',
      events,
      checkpoints.map((c) => (c.seq === 4 ? { ...c, claims: null } : c)),
      4,
      'forged-checkpoint',
    ],
    [
      'a valid checkpoint statement of another seq put in place of one',
      events,
      checkpoints.map((c) => (c.seq === 8 ? { ...c, claims: checkpoints[0]!.claims } : c)),
      8,
      'forged-checkpoint',
    ],
    [
      'a stored checkpoint hash that is not the signed one',
      events,
      checkpoints.map((c) => (c.seq === 8 ? { ...c, hash: 'a'.repeat(64) } : c)),
      8,
      'forged-checkpoint',
    ],
    [
      'events appended after the last checkpoint',
      [...events, ...sealEvents({ seq: 10, hash: events[9]!.hash }, [event(11)])],
      checkpoints,
      11,
      'missing',
    ],
    ['the last checkpoint deleted', events, checkpoints.filter((c) => c.seq !== 10), 9, 'missing'],
  ]
  for (const [name, tampered, tamperedCheckpoints, seq, kind] of cases) {
    const { broken } = verifyChain(tampered, tamperedCheckpoints)
    t.match(broken, { seq, kind }, name)
  }
})

t.test('a moved event is recognised where it was sealed', async (t) => {
  const { events } = chain(6)
  const third = events[2]!
  const fifth = events[4]!
  // The content of seq 5 put at seq 3: it was sealed as seq 5, not as seq 3.
  const moved = { ...third, ...pickContent(fifth), seq: 3 }
  t.ok(sealedAs(moved, fifth))
  t.notOk(sealedAs(moved, third))
})

function pickContent(e: SealedEvent) {
  const { seq: _seq, prevHash: _prev, hash: _hash, ...content } = e
  return content
}
