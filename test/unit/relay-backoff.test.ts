import t from 'tap'
import { relayBackoffMs } from '../../src/jobs/outbox-relay.js'

t.test('the relay back-off doubles from its minimum up to its maximum, within ±20 %', async (t) => {
  const backoff = { minMs: 500, maxMs: 5_000 }
  const middle = () => 0.5
  t.same(
    [1, 2, 3, 4, 5, 6, 20].map((failures) => relayBackoffMs(failures, backoff, middle)),
    [500, 1_000, 2_000, 4_000, 5_000, 5_000, 5_000],
  )
  t.equal(
    relayBackoffMs(1, backoff, () => 0),
    400,
    'the lowest jitter',
  )
  t.equal(
    relayBackoffMs(4, backoff, () => 1),
    4_800,
    'the highest jitter',
  )
})
