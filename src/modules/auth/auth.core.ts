/** Scopes and who gets them: pure rules, unit-tested without I/O. */
export const ALL_SCOPES = [
  'referrals:write',
  'referrals:read',
  'acknowledgements:write',
  'inbox:read',
  'directory:read',
  'agency:write',
  'stats:read',
  'audit:read',
  'agencies:admin',
] as const
export type Scope = (typeof ALL_SCOPES)[number]

export const SCOPE_DESCRIPTIONS: Record<Scope, string> = {
  'referrals:write': 'Submit referrals',
  'referrals:read': 'Read referrals the agency is party to',
  'acknowledgements:write': 'Acknowledge referrals',
  'inbox:read': 'Read and confirm the agency inbox',
  'directory:read': 'Read the agency directory',
  'agency:write': "Change the agency's own delivery settings and add or revoke its own keys",
  'stats:read': 'Aggregate statistics (national contact points and operators)',
  'audit:read': 'Audit events (own referrals; all for operators)',
  'agencies:admin':
    "Register agencies; change, suspend or manage the keys of any agency; retry other agencies' webhook deliveries and erase their referrals (operators)",
}

const EVERY_AGENCY: Scope[] = [
  'referrals:write',
  'referrals:read',
  'acknowledgements:write',
  'inbox:read',
  'directory:read',
  'agency:write',
  'audit:read',
]

export function scopesFor(agency: { kind: string; nationalContactPoint: boolean }): Scope[] {
  const scopes = [...EVERY_AGENCY]
  const operator = agency.kind === 'hub_operator'
  if (operator || agency.nationalContactPoint) scopes.push('stats:read')
  if (operator) scopes.push('agencies:admin')
  return scopes
}

/**
 * The scopes granted for a request (RFC 6749 §3.3): all allowed ones when none is asked for,
 * else exactly those asked, or undefined when any asked scope is not allowed (invalid_scope).
 */
export function grantScopes(allowed: readonly Scope[], requested: string | undefined): Scope[] | undefined {
  if (requested === undefined || requested.trim() === '') return [...allowed]
  const asked = [...new Set(requested.trim().split(/\s+/))]
  if (!asked.every((s) => (allowed as readonly string[]).includes(s))) return undefined
  return asked as Scope[]
}
