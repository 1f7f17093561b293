import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'
import { decodeJwt, decodeProtectedHeader, importJWK, jwtVerify } from 'jose'
import type { Kysely } from 'kysely'
import type { Config } from '../../config.js'
import type { Database } from '../../db/types.js'
import { UUID_PATTERN } from '../../lib/cursor.js'
import type { HubKeys } from '../../lib/hub-keys.js'
import { algForKey, checkProtectedHeader } from '../../lib/jose-safe.js'
import { findAgency, findKey } from '../agencies/agencies.repository.js'
import { recordAuditEvent } from '../audit/audit.service.js'
import { signAccessToken } from './access-token.js'
import { grantScopes, type Scope, scopesFor } from './auth.core.js'

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
const MAX_ASSERTION_LIFETIME_SECONDS = 300
const CLOCK_SKEW_SECONDS = 30

export interface TokenDeps {
  db: Kysely<Database>
  redis: Redis
  hubKeys: HubKeys
  config: Pick<Config, 'publicUrl' | 'accessTokenTtlSeconds' | 'queuePrefix'>
  now: () => Date
}

export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'invalid_scope'
  | 'unsupported_grant_type'
  | 'temporarily_unavailable'

/** An RFC 6749 §5.2 error. `reason` is for the log only; the caller sees a generic description. */
export class OAuthError extends Error {
  constructor(
    readonly error: OAuthErrorCode,
    readonly reason: string,
    readonly agencyId?: string,
  ) {
    super(reason)
  }
}

export interface TokenRequest {
  grant_type?: string
  client_assertion_type?: string
  client_assertion?: string
  scope?: string
}

export interface TokenResponse {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  scope: string
}

/** Verifies an RFC 7523 client assertion; returns the agency and the scopes it may have. */
async function authenticateClient(deps: TokenDeps, assertion: string) {
  const fail = (reason: string, agencyId?: string) => new OAuthError('invalid_client', reason, agencyId)
  let header: ReturnType<typeof decodeProtectedHeader>
  let claims: ReturnType<typeof decodeJwt>
  try {
    header = decodeProtectedHeader(assertion)
    claims = decodeJwt(assertion)
  } catch {
    throw fail('malformed assertion')
  }
  const headerProblem = checkProtectedHeader(header)
  if (headerProblem) throw fail(`header ${headerProblem.member}: ${headerProblem.problem}`)
  const agencyId = claims.iss
  if (typeof agencyId !== 'string' || !UUID_PATTERN.test(agencyId)) throw fail('iss is not an agency id')
  if (claims.sub !== agencyId) throw fail('iss and sub differ', agencyId)

  const agency = await findAgency(deps.db, agencyId)
  if (!agency) throw fail('unknown agency')
  if (agency.status !== 'active') throw fail('agency suspended', agencyId)
  // The key is looked up by kid among this agency's own keys only.
  const key = await findKey(deps.db, agencyId, header.kid!)
  if (key?.use !== 'sig') throw fail('no such signing key for this agency', agencyId)
  if (key.status !== 'active') throw fail('key revoked', agencyId)
  const alg = algForKey(key.jwk as { kty?: string; crv?: string })
  if (!alg || alg !== header.alg) throw fail('alg does not match the registered key', agencyId)

  const now = deps.now()
  const tokenUrl = `${deps.config.publicUrl}/v1/oauth/token`
  try {
    await jwtVerify(assertion, await importJWK(key.jwk, alg), {
      algorithms: [alg],
      issuer: agencyId,
      subject: agencyId,
      audience: [tokenUrl, deps.config.publicUrl],
      clockTolerance: CLOCK_SKEW_SECONDS,
      currentDate: now,
      requiredClaims: ['exp', 'iat', 'jti'],
    })
  } catch (error) {
    throw fail(`assertion: ${(error as { code?: string }).code ?? 'invalid'}`, agencyId)
  }
  const { exp, iat, jti } = claims as { exp: number; iat: number; jti: unknown }
  if (exp - iat > MAX_ASSERTION_LIFETIME_SECONDS)
    throw fail('assertion lives longer than 5 minutes', agencyId)
  if (exp > now.getTime() / 1000 + MAX_ASSERTION_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS) {
    throw fail('assertion expires too far ahead', agencyId)
  }
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 200) throw fail('jti missing', agencyId)
  await rememberJti(deps, agencyId, jti, exp)
  return {
    agency,
    scopes: scopesFor({ kind: agency.kind, nationalContactPoint: agency.national_contact_point }),
  }
}

/** Assertions are single use (RFC 7523 §3): each jti is kept in Redis, shared by every API process, until exp. */
async function rememberJti(deps: TokenDeps, agencyId: string, jti: string, exp: number) {
  const digest = createHash('sha256').update(`${agencyId}\n${jti}`).digest('base64url')
  let stored: string | null
  try {
    const expiresAtMs = (exp + CLOCK_SKEW_SECONDS) * 1000
    stored = await deps.redis.set(`${deps.config.queuePrefix}:jti:${digest}`, '1', 'PXAT', expiresAtMs, 'NX')
  } catch {
    // Without the replay store no assertion can be proven fresh: refuse rather than risk a replay.
    throw new OAuthError('temporarily_unavailable', 'replay store unavailable', agencyId)
  }
  if (stored !== 'OK') throw new OAuthError('invalid_client', 'jti replayed', agencyId)
}

export async function issueToken(
  deps: TokenDeps,
  request: TokenRequest,
  requestId: string,
): Promise<TokenResponse> {
  try {
    if (request.grant_type !== 'client_credentials') {
      throw new OAuthError(request.grant_type ? 'unsupported_grant_type' : 'invalid_request', 'grant_type')
    }
    if (request.client_assertion_type !== CLIENT_ASSERTION_TYPE || !request.client_assertion) {
      throw new OAuthError('invalid_request', 'client assertion missing')
    }
    const { agency, scopes: allowed } = await authenticateClient(deps, request.client_assertion)
    const scopes = grantScopes(allowed, request.scope)
    if (!scopes) throw new OAuthError('invalid_scope', 'scope not allowed', agency.id)
    const ttl = deps.config.accessTokenTtlSeconds
    const token = await signAccessToken(
      deps.hubKeys,
      deps.config.publicUrl,
      { agencyId: agency.id, scopes },
      ttl,
      deps.now(),
    )
    await audit(deps, agency.id, 'token.issued', 'success', requestId, { scopes: scopes.join(' ') })
    return { access_token: token, token_type: 'Bearer', expires_in: ttl, scope: scopes.join(' ') }
  } catch (error) {
    if (error instanceof OAuthError) {
      await audit(deps, error.agencyId ?? 'unknown', 'token.refused', 'refused', requestId, {
        error: error.error,
      })
    }
    throw error
  }
}

async function audit(
  deps: TokenDeps,
  actor: string,
  action: string,
  outcome: 'success' | 'refused',
  requestId: string,
  details: Record<string, string>,
) {
  await recordAuditEvent(deps.db, {
    actor,
    action,
    target: { type: 'token', id: actor },
    requestId,
    outcome,
    details,
  })
}

export type { Scope }
