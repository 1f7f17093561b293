import t from 'tap'
import { chainHolders, chainRoot } from '../../src/modules/acknowledgements/consent.service.js'
import type { ChainLink } from '../../src/modules/referrals/consent.repository.js'

const link = (id: string, sender: string, recipient: string, onwardOf: string | null): ChainLink => ({
  id,
  sender_id: sender,
  recipient_id: recipient,
  onward_of: onwardOf,
  consent_withdrawn: [],
})

t.test('the chain root is the referral without onwardOf', async (t) => {
  const chain = [link('r2', 'ncp', 'ngo', 'r1'), link('r1', 'ro', 'ncp', null)]
  t.equal(chainRoot(chain).id, 'r1')
  t.throws(() => chainRoot([link('r2', 'ncp', 'ngo', 'r1')]), /first referral/)
})

t.test('each agency of the chain is a holder once, on the first link it is party to', async (t) => {
  const chain = [
    link('r1', 'ro', 'ncp', null),
    link('r2', 'ncp', 'ngo', 'r1'),
    link('r3', 'ngo', 'shelter', 'r2'),
    link('r4', 'ncp', 'shelter', 'r1'),
  ]
  t.same(chainHolders(chain), [
    { agencyId: 'ro', referralId: 'r1' },
    { agencyId: 'ncp', referralId: 'r1' },
    { agencyId: 'ngo', referralId: 'r2' },
    { agencyId: 'shelter', referralId: 'r3' },
  ])
  t.same(chainHolders([link('r1', 'ro', 'de', null)]), [
    { agencyId: 'ro', referralId: 'r1' },
    { agencyId: 'de', referralId: 'r1' },
  ])
})
