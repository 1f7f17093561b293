import t from 'tap'
import {
  ASSERTION_CLOCK_SKEW_SECONDS,
  assertionTimeProblem,
  MAX_ASSERTION_LIFETIME_SECONDS,
} from '../../src/modules/agencies/scopes.core.js'

// Issue 14, point 9: a client assertion's iat and nbf may be ahead of the hub's clock by the skew
// only; before, an iat a year ahead (with a near exp) was accepted.

const now = 1_800_000_000
const skew = ASSERTION_CLOCK_SKEW_SECONDS

t.test('iat: the skew ahead is accepted, further ahead refused', async (t) => {
  t.equal(skew, 60, 'the documented default')
  t.equal(assertionTimeProblem({ iat: now + 30, exp: now + 90 }, now), undefined, '30 s ahead: clock skew')
  t.equal(assertionTimeProblem({ iat: now + skew, exp: now + skew + 60 }, now), undefined, 'exactly the skew')
  t.equal(assertionTimeProblem({ iat: now + skew + 1, exp: now + 60 }, now), 'iat is in the future')
  t.equal(
    assertionTimeProblem({ iat: now + 365 * 86400, exp: now + 60 }, now),
    'iat is in the future',
    'a year',
  )
})

t.test('nbf: the skew ahead is accepted, further ahead refused', async (t) => {
  t.equal(assertionTimeProblem({ iat: now, nbf: now + skew, exp: now + 120 }, now), undefined)
  t.equal(
    assertionTimeProblem({ iat: now, nbf: now + skew + 1, exp: now + 120 }, now),
    'nbf is in the future',
  )
  t.equal(assertionTimeProblem({ iat: now, nbf: now + 86400, exp: now + 60 }, now), 'nbf is in the future')
})

t.test('exp: not long past, not far ahead, at most 5 minutes after iat', async (t) => {
  t.equal(assertionTimeProblem({ iat: now - 100, exp: now - skew - 1 }, now), 'assertion expired')
  t.equal(assertionTimeProblem({ iat: now - 100, exp: now - skew }, now), undefined)
  t.equal(
    assertionTimeProblem({ iat: now, exp: now + MAX_ASSERTION_LIFETIME_SECONDS + 1 }, now),
    'assertion lives longer than 5 minutes',
  )
  t.equal(
    assertionTimeProblem({ iat: now - 1000, exp: now + MAX_ASSERTION_LIFETIME_SECONDS + skew + 1 }, now),
    'assertion lives longer than 5 minutes',
  )
})
