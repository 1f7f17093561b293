import t from 'tap'
import {
  DELIVERY_STATUS_MEANINGS,
  DELIVERY_STATUSES,
  retryRefusal,
  webhookRefusal,
} from '../../src/modules/deliveries/deliveries.core.js'

t.test('only a failed delivery may be retried; each other state says why not', async (t) => {
  t.equal(retryRefusal('failed'), undefined)
  for (const status of DELIVERY_STATUSES.filter((s) => s !== 'failed')) {
    t.match(retryRefusal(status), new RegExp(`is ${status}`), status)
  }
  t.match(retryRefusal('cancelled'), /inbox/, 'a cancelled one points at the inbox')
})

t.test('an agency takes webhooks when it is active and push with a URL', async (t) => {
  const push = { status: 'active', delivery_mode: 'push', delivery_url: 'https://ngo.example/hook' }
  t.equal(webhookRefusal(push), undefined)
  t.match(webhookRefusal({ ...push, status: 'suspended' }), /suspended/)
  t.match(webhookRefusal({ ...push, delivery_mode: 'pull', delivery_url: null }), /pull/)
  t.match(webhookRefusal({ ...push, delivery_url: null }), /pull/, 'push without a URL is no webhook')
  t.match(webhookRefusal({ status: 'suspended', delivery_mode: 'pull', delivery_url: null }), /suspended/)
})

t.test('every state has a meaning for the API description', async (t) => {
  t.same(Object.keys(DELIVERY_STATUS_MEANINGS).sort(), [...DELIVERY_STATUSES].sort())
})
