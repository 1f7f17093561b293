import type { Redis } from 'ioredis'
import type { Kysely } from 'kysely'
import type { Config } from '../../config.js'
import type { Database } from '../../db/types.js'
import { recordAuditEvent } from '../ledger/audit.service.js'

/**
 * The actor of a refusal whose assertion did not verify: whoever sent it is not known. The `iss` it
 * claimed is only a claim, kept in `details.claimedIssuer`; naming it as the actor would put an
 * attacker's forgeries in that agency's own audit view (GET /v1/audit shows an agency what it did).
 */
export const ANONYMOUS_ACTOR = 'anonymous'

const WINDOW_MS = 60_000
/** How long a count of refusals not written waits for the next written one from the same address. */
const UNRECORDED_TTL_MS = 24 * 3600_000

export interface TokenRefusal {
  error: string
  /** Set when the assertion's signature verified: the agency itself sent a refused request. */
  agencyId?: string | undefined
  /** The iss an unverified assertion claimed, when it has the shape of an agency id. */
  claimedIssuer?: string | undefined
}

export interface TokenRefusalDeps {
  db: Kysely<Database>
  redis: Redis
  config: Pick<Config, 'queuePrefix' | 'auditTokenRefusalsPerMinute'>
}

/** The Redis keys of one client address: refusals in the current window, and those not written. */
export const refusalKeys = (queuePrefix: string, clientAddress: string) => ({
  window: `${queuePrefix}:token-refusals:${clientAddress}`,
  unrecorded: `${queuePrefix}:token-refusals-unrecorded:${clientAddress}`,
})

// One round trip, atomic across API processes: counts the refusal in its address's fixed window;
// within the budget it answers how many went unwritten before it (and resets that count), past the
// budget it adds one to that count and answers -1.
const ADMIT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if n <= tonumber(ARGV[2]) then
  local unrecorded = redis.call('GET', KEYS[2])
  if unrecorded then redis.call('DEL', KEYS[2]) end
  return tonumber(unrecorded) or 0
end
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return -1
`

async function admit(deps: TokenRefusalDeps, clientAddress: string): Promise<number> {
  const keys = refusalKeys(deps.config.queuePrefix, clientAddress)
  try {
    const admitted = await deps.redis.eval(
      ADMIT,
      2,
      keys.window,
      keys.unrecorded,
      WINDOW_MS,
      deps.config.auditTokenRefusalsPerMinute,
      UNRECORDED_TTL_MS,
    )
    return Number(admitted)
  } catch {
    // Without Redis the budget cannot be shared by the API processes: the event is written. A refusal
    // is evidence, and losing it is worse than a burst of rows while Redis is away (when the request
    // rate limit is skipped too, the request's own directory reads cost more than this insert).
    return 0
  }
}

/**
 * Audits a refused token request as `token.refused`: at most `auditTokenRefusalsPerMinute` events per
 * client address per minute. Refusals past that are counted in Redis, not written; the next event
 * written for that address carries their number as `details.unrecordedBefore`. Resolves to whether
 * an event was written.
 */
export async function recordTokenRefusal(
  deps: TokenRefusalDeps,
  refusal: TokenRefusal,
  requestId: string,
  clientAddress: string,
): Promise<boolean> {
  const unrecordedBefore = await admit(deps, clientAddress)
  if (unrecordedBefore < 0) return false
  const actor = refusal.agencyId ?? ANONYMOUS_ACTOR
  await recordAuditEvent(deps.db, {
    actor,
    action: 'token.refused',
    target: { type: 'token', id: actor },
    requestId,
    outcome: 'refused',
    details: {
      error: refusal.error,
      signatureVerified: refusal.agencyId !== undefined,
      claimedIssuer: refusal.agencyId ?? refusal.claimedIssuer ?? null,
      ...(unrecordedBefore > 0 ? { unrecordedBefore } : {}),
    },
  })
  return true
}
