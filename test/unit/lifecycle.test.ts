import t from 'tap'
import {
  ACK_TYPES,
  type AckType,
  CONSENT_ACK_TYPES,
  deliveredFrom,
  type Party,
  type ReferralStatus,
  transition,
  withdrawable,
} from '../../src/modules/referrals/lifecycle.core.js'

/** The acknowledgements of care; the consent ones change no state and have their own tests below. */
const CARE_TYPES = ACK_TYPES.filter((type) => !CONSENT_ACK_TYPES.has(type))

const STATES: ReferralStatus[] = [
  'submitted',
  'delivered',
  'received',
  'info_requested',
  'accepted',
  'declined',
  'closed',
  'withdrawn',
]

/** The lifecycle table of DESIGN.md, written out independently of the implementation. */
const ALLOWED: [ReferralStatus, AckType, Party, ReferralStatus][] = [
  ['submitted', 'received', 'recipient', 'received'],
  ['delivered', 'received', 'recipient', 'received'],
  ['received', 'accepted', 'recipient', 'accepted'],
  ['received', 'declined', 'recipient', 'declined'],
  ['received', 'info_requested', 'recipient', 'info_requested'],
  ['info_requested', 'info_provided', 'sender', 'received'],
  ['accepted', 'closed', 'recipient', 'closed'],
  ['submitted', 'withdrawn', 'sender', 'withdrawn'],
  ['delivered', 'withdrawn', 'sender', 'withdrawn'],
  ['received', 'withdrawn', 'sender', 'withdrawn'],
  ['info_requested', 'withdrawn', 'sender', 'withdrawn'],
]

t.test('every allowed transition leads where the table says', async (t) => {
  for (const [from, type, by, to] of ALLOWED) {
    t.same(transition(from, type, by), { ok: true, to }, `${from} --${type} by ${by}--> ${to}`)
  }
})

t.test(
  'every other (state, type) pair is refused: wrong party 403-style, else invalid 409-style',
  async (t) => {
    let refused = 0
    for (const from of STATES) {
      for (const type of CARE_TYPES) {
        for (const by of ['sender', 'recipient'] as const) {
          if (ALLOWED.some(([f, ty, b]) => f === from && ty === type && b === by)) continue
          const result = transition(from, type, by)
          t.equal(result.ok, false, `${from} ${type} by ${by}`)
          const rightParty = ALLOWED.find(([, ty]) => ty === type)![2]
          if (by !== rightParty) t.match(result, { problem: 'wrong-party', allowedParty: rightParty })
          else t.match(result, { problem: 'invalid-transition', from })
          refused++
        }
      }
    }
    t.equal(refused, STATES.length * CARE_TYPES.length * 2 - ALLOWED.length)
  },
)

t.test('terminal states accept nothing but consent acknowledgements', async (t) => {
  for (const from of ['declined', 'closed', 'withdrawn'] as const) {
    for (const type of CARE_TYPES) {
      for (const by of ['sender', 'recipient'] as const) t.notOk(transition(from, type, by).ok)
    }
  }
})

t.test('delivery moves only a submitted referral', async (t) => {
  t.equal(deliveredFrom('submitted'), 'delivered')
  for (const from of STATES.filter((s) => s !== 'submitted')) t.equal(deliveredFrom(from), undefined, from)
})

t.test('consent acknowledgements: any state, no state change; withdrawal by the sender only', async (t) => {
  for (const from of STATES) {
    t.same(transition(from, 'consent_withdrawn', 'sender'), { ok: true, to: from }, `withdrawal in ${from}`)
    t.match(transition(from, 'consent_withdrawn', 'recipient'), {
      problem: 'wrong-party',
      allowedParty: 'sender',
    })
    for (const by of ['sender', 'recipient'] as const) {
      t.same(
        transition(from, 'erasure_confirmed', by),
        { ok: true, to: from },
        `confirmation by ${by} in ${from}`,
      )
    }
  }
})

t.test('after all consent is withdrawn only erasure_confirmed, closed and withdrawn pass', async (t) => {
  const after = ['all'] as const
  for (const from of STATES) {
    for (const type of ACK_TYPES) {
      for (const by of ['sender', 'recipient'] as const) {
        const before = transition(from, type, by)
        const result = transition(from, type, by, after)
        if (!before.ok && before.problem === 'wrong-party')
          t.same(result, before, 'the party is checked first')
        else if (['erasure_confirmed', 'closed', 'withdrawn'].includes(type))
          t.same(result, before, `${type} by ${by} in ${from} as before`)
        else
          t.same(result, { ok: false, problem: 'consent-withdrawn', withdrawn: 'all' }, `${type} in ${from}`)
      }
    }
  }
  t.same(transition('accepted', 'closed', 'recipient', after), { ok: true, to: 'closed' })
  t.same(transition('received', 'withdrawn', 'sender', after), { ok: true, to: 'withdrawn' })
  t.match(transition('received', 'accepted', 'recipient', after), { problem: 'consent-withdrawn' })
})

t.test('a narrower withdrawal leaves the lifecycle alone', async (t) => {
  for (const scope of ['law_enforcement', 'onward_sharing'] as const) {
    for (const [from, type, by, to] of ALLOWED) t.same(transition(from, type, by, [scope]), { ok: true, to })
  }
})

t.test('a scope is withdrawn once, and nothing after all', async (t) => {
  t.ok(withdrawable('all', []))
  t.ok(withdrawable('onward_sharing', ['law_enforcement']))
  t.notOk(withdrawable('onward_sharing', ['onward_sharing']))
  t.notOk(withdrawable('law_enforcement', ['all']))
  t.notOk(withdrawable('all', ['all']))
  t.ok(withdrawable('all', ['law_enforcement', 'onward_sharing']))
})
