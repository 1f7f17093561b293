import t from 'tap'
import { referralSubmissionOutcome, webhookJobOutcome } from '../../src/modules/metrics/metrics.core.js'

t.test('a referral submission is created, replayed, refused or failed, with the problem code', async (t) => {
  t.same(referralSubmissionOutcome(201, undefined), { outcome: 'created' })
  t.same(referralSubmissionOutcome(200, undefined), { outcome: 'replayed' })
  t.same(referralSubmissionOutcome(422, 'TRM_SIGNATURE_INVALID'), {
    outcome: 'refused',
    code: 'TRM_SIGNATURE_INVALID',
  })
  t.same(referralSubmissionOutcome(429, 'TRM_RATE_LIMITED'), { outcome: 'refused', code: 'TRM_RATE_LIMITED' })
  t.same(referralSubmissionOutcome(503, 'TRM_OVERLOADED'), { outcome: 'failed', code: 'TRM_OVERLOADED' })
  t.same(referralSubmissionOutcome(500, 'TRM_INTERNAL'), { outcome: 'failed', code: 'TRM_INTERNAL' })
})

t.test('only codes of the catalog become label values', async (t) => {
  t.same(referralSubmissionOutcome(400, 'TRM_MADE_UP_BY_A_CLIENT'), { outcome: 'refused', code: 'none' })
  t.same(
    referralSubmissionOutcome(400, 'toString'),
    { outcome: 'refused', code: 'none' },
    'not a prototype member',
  )
  t.same(referralSubmissionOutcome(413, undefined), { outcome: 'refused', code: 'none' })
})

t.test(
  'a webhook job ends delivered, retried, failed for good, cancelled, in error or skipped',
  async (t) => {
    t.equal(webhookJobOutcome({ returned: 'delivered' }), 'delivered')
    t.equal(webhookJobOutcome({ returned: 'cancelled' }), 'cancelled')
    for (const returned of ['already-delivered', 'superseded', 'gone', 'not-push', 'failed', undefined]) {
      t.equal(webhookJobOutcome({ returned }), 'skipped', `returned ${String(returned)}`)
    }
    const refused = { name: 'DeliveryFailed' }
    t.equal(webhookJobOutcome({ error: refused, lastAttempt: false }), 'retry')
    t.equal(
      webhookJobOutcome({ error: refused, lastAttempt: true }),
      'failed',
      'the last attempt: a dead letter',
    )
    t.equal(webhookJobOutcome({ error: new Error('connection terminated'), lastAttempt: false }), 'error')
  },
)
