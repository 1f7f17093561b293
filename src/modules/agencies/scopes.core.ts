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

/** Every scope but those of national contact points (stats:read) and operators (agencies:admin). */
const EVERY_AGENCY: Scope[] = ALL_SCOPES.filter(
  (scope) => scope !== 'stats:read' && scope !== 'agencies:admin',
)

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

/** The longest a client assertion may live (exp − iat). */
export const MAX_ASSERTION_LIFETIME_SECONDS = 300
/**
 * How far an agency's clock may be from the hub's: an assertion's iat and nbf may be at most this far
 * in the future, its exp at most this far in the past.
 */
export const ASSERTION_CLOCK_SKEW_SECONDS = 60

/**
 * What is wrong with a client assertion's times at `nowSeconds` (NumericDate), or undefined. An iat
 * ahead of the hub's clock would otherwise let an assertion signed today stand for one issued next
 * year (RFC 7519 §4.1.6: iat is when it was issued; RFC 7523 §3 lets the hub refuse an iat too far
 * from now).
 */
export function assertionTimeProblem(
  claims: { iat: number; exp: number; nbf?: number | undefined },
  nowSeconds: number,
): string | undefined {
  if (claims.iat > nowSeconds + ASSERTION_CLOCK_SKEW_SECONDS) return 'iat is in the future'
  if (claims.nbf !== undefined && claims.nbf > nowSeconds + ASSERTION_CLOCK_SKEW_SECONDS)
    return 'nbf is in the future'
  if (claims.exp < nowSeconds - ASSERTION_CLOCK_SKEW_SECONDS) return 'assertion expired'
  if (claims.exp - claims.iat > MAX_ASSERTION_LIFETIME_SECONDS) return 'assertion lives longer than 5 minutes'
  if (claims.exp > nowSeconds + MAX_ASSERTION_LIFETIME_SECONDS + ASSERTION_CLOCK_SKEW_SECONDS)
    return 'assertion expires too far ahead'
  return undefined
}
