import t from 'tap'
import {
  ACK_TYPES,
  type AckType,
  deliveredFrom,
  type Party,
  type ReferralStatus,
  transition,
} from '../../src/modules/referrals/lifecycle.core.js'

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
      for (const type of ACK_TYPES) {
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
    t.equal(refused, STATES.length * ACK_TYPES.length * 2 - ALLOWED.length)
  },
)

t.test('terminal states accept nothing', async (t) => {
  for (const from of ['declined', 'closed', 'withdrawn'] as const) {
    for (const type of ACK_TYPES) {
      for (const by of ['sender', 'recipient'] as const) t.notOk(transition(from, type, by).ok)
    }
  }
})

t.test('delivery moves only a submitted referral', async (t) => {
  t.equal(deliveredFrom('submitted'), 'delivered')
  for (const from of STATES.filter((s) => s !== 'submitted')) t.equal(deliveredFrom(from), undefined, from)
})
