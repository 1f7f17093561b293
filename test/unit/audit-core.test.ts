import t from 'tap'
import { canonicalEvent } from '../../src/modules/audit/audit.core.js'

t.test('an event commits to the RFC 8785 form of exactly its chained fields', async (t) => {
  const stored = {
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
    index: 6,
    leafHash: 'ignored',
  }
  const expectedJson =
    '{"action":"agency.created","actor":"system","at":"2026-11-22T10:00:00.000001Z",' +
    '"details":{"a":"é","list":[3,"b"],"n":1e+21,"z":1},"outcome":"success","referralId":null,' +
    '"requestId":null,"seq":7,"target":{"id":"x","type":"agency"}}'
  t.equal(canonicalEvent(stored), expectedJson, 'keys sorted, numbers in ECMAScript form, no whitespace')
  t.not(canonicalEvent({ ...stored, details: { z: 2 } }), expectedJson, 'any chained field changes it')
})
