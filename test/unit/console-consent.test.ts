import t from 'tap'
import { consentProblem } from '../../console/src/lib/consent.js'
import type { ReferralDocument } from '../../src/modules/referrals/referral-document.schema.js'
import { checkConsent } from '../../src/modules/referrals/referrals.core.js'

// The console checks the hub's consent rules before signing; both must give the same verdict.
const KINDS = [
  'ngo',
  'national_agency',
  'law_enforcement',
  'prosecution',
  'social_services',
  'child_protection',
  'consular',
  'labour_inspection',
]
const SCOPES = [[], ['assistance'], ['law_enforcement'], ['assistance', 'law_enforcement', 'onward_sharing']]

t.test('the console and the hub agree on every combination of the consent rules', async (t) => {
  let cases = 0
  let refused = 0
  for (const kind of KINDS)
    for (const minor of [true, false])
      for (const byGuardian of [true, false])
        for (const status of ['given', 'refused', 'not_obtainable'])
          for (const scope of SCOPES) {
            const document = { victim: { minor }, consent: { status, scope, byGuardian } }
            const hub = checkConsent(document as unknown as ReferralDocument, kind)
            const console = consentProblem(document, kind)
            t.equal(
              console?.pointer,
              hub?.pointer,
              `${kind} minor=${minor} guardian=${byGuardian} ${status} [${scope}]`,
            )
            cases += 1
            if (hub) refused += 1
          }
  t.ok(refused > 0 && refused < cases, `${refused} of ${cases} combinations refused`)
})
