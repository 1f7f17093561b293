import t from 'tap'
import { type AgencyChange, directoryChangeRefusal } from '../../src/modules/agencies/agency-access.core.js'

const SELF = 'agency-a'
const OTHER = 'agency-b'
const delivery: AgencyChange = { fields: ['delivery'] }
const suspend: AgencyChange = { fields: ['status'] }
const keys: AgencyChange = { keys: true }
const operator = (scopes: string[]) => ({ agencyId: SELF, operator: true, scopes })
const agency = (scopes: string[]) => ({ agencyId: SELF, operator: false, scopes })

// [who, on which agency, what, refused with (a pattern of the detail) or undefined when allowed]
const cases: [string, ReturnType<typeof operator>, string, AgencyChange, RegExp | undefined][] = [
  ['agency, own delivery, agency:write', agency(['agency:write']), SELF, delivery, undefined],
  ['agency, own keys, agency:write', agency(['agency:write']), SELF, keys, undefined],
  ['agency, own delivery, read only', agency(['directory:read']), SELF, delivery, /agency:write/],
  ['agency, own keys, read only', agency(['directory:read']), SELF, keys, /agency:write/],
  ['agency, own status', agency(['agency:write']), SELF, suspend, /only its own delivery/],
  ['agency, another agency', agency(['agency:write']), OTHER, delivery, /Only an operator/],
  ['agency, keys of another', agency(['agency:write']), OTHER, keys, /Only the agency itself/],
  // A token cannot make an agency an operator: the kind decides as well as the scope.
  ['agency holding agencies:admin', agency(['agencies:admin']), OTHER, suspend, /Only an operator/],
  ['operator, another, read only', operator(['directory:read']), OTHER, suspend, /agencies:admin/],
  ['operator, another, agency:write', operator(['agency:write']), OTHER, delivery, /agencies:admin/],
  ['operator, keys of another, agency:write', operator(['agency:write']), OTHER, keys, /agencies:admin/],
  [
    'operator, own name, agency:write',
    operator(['agency:write']),
    SELF,
    { fields: ['name'] },
    /agencies:admin/,
  ],
  ['operator, own delivery, agency:write', operator(['agency:write']), SELF, delivery, undefined],
  ['operator, another, agencies:admin', operator(['agencies:admin']), OTHER, suspend, undefined],
  ['operator, keys of another, agencies:admin', operator(['agencies:admin']), OTHER, keys, undefined],
  ['operator, own delivery, agencies:admin', operator(['agencies:admin']), SELF, delivery, undefined],
]

t.test('who may change which agency with which scope', async (t) => {
  for (const [name, caller, target, change, refused] of cases) {
    const refusal = directoryChangeRefusal(caller, target, change)
    if (refused) t.match(refusal?.detail, refused, name)
    else t.equal(refusal, undefined, name)
  }
})

t.test("an agency's own operator-only fields are each named", async (t) => {
  t.same(
    directoryChangeRefusal(agency(['agency:write']), SELF, { fields: ['delivery', 'name', 'status'] })
      ?.errors,
    [
      { pointer: '/name', detail: 'only an operator may change this' },
      { pointer: '/status', detail: 'only an operator may change this' },
    ],
  )
})
