import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'
import { importJWK, type JWSHeaderParameters, type JWTPayload, jwtVerify } from 'jose'
import type { Kysely } from 'kysely'
import type { Config } from '../../config.js'
import type { Database } from '../../db/types.js'
import { UUID_PATTERN } from '../../lib/cursor.js'
import type { HubKeys } from '../../lib/hub-keys.js'
import { algForKey, checkProtectedHeader, decodeJsonObjectPart } from '../../lib/jose-safe.js'
import { StrictJsonError } from '../../lib/strict-json.js'
import { findAgency, findKey } from '../agencies/agencies.repository.js'
import {
  ASSERTION_CLOCK_SKEW_SECONDS,
  assertionTimeProblem,
  grantScopes,
  type Scope,
  scopesFor,
} from '../agencies/scopes.core.js'
import { recordAuditEvent } from '../ledger/audit.service.js'
import { signAccessToken } from './access-token.js'
import { recordTokenRefusal } from './token-refusals.js'

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
const COMPACT_JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

export interface TokenDeps {
  db: Kysely<Database>
  redis: Redis
  hubKeys: HubKeys
  config: Pick<Config, 'publicUrl' | 'accessTokenTtlSeconds' | 'queuePrefix' | 'auditTokenRefusalsPerMinute'>
  now: () => Date
}

export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'invalid_scope'
  | 'unsupported_grant_type'
  | 'temporarily_unavailable'

/** Who a refused request came from, as far as the hub knows. */
export interface Requester {
  /** The agency whose key verified the assertion. */
  agencyId?: string
  /** The iss of an assertion that did not verify: a claim, not an identity. */
  claimedIssuer?: string
}

/** An RFC 6749 §5.2 error. `reason` is for the log only; the caller sees a generic description. */
export class OAuthError extends Error {
  /** Whether a token.refused audit event was written for it (there is a budget per client address). */
  audited = false

  constructor(
    readonly error: OAuthErrorCode,
    readonly reason: string,
    readonly requester: Requester = {},
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

/**
 * The header and claims of a client assertion, each read as I-JSON: a second iss, sub, aud or alg
 * would let the hub check one assertion and a log or another reader see another (RFC 8725 §3.11).
 */
function decodeAssertion(assertion: string): { header: JWSHeaderParameters; claims: JWTPayload } | string {
  if (!COMPACT_JWT.test(assertion)) return 'malformed assertion'
  const [headerPart, claimsPart] = assertion.split('.') as [string, string]
  let part = 'header'
  try {
    const header = decodeJsonObjectPart(headerPart)
    part = 'claims'
    return { header, claims: decodeJsonObjectPart(claimsPart) }
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error
    return `assertion ${part} refused: ${error.problem} at ${error.pointer.slice(0, 100) || '/'}`
  }
}

/** Verifies an RFC 7523 client assertion; returns the agency and the scopes it may have. */
async function authenticateClient(deps: TokenDeps, assertion: string) {
  const requester: Requester = {}
  const fail = (reason: string) => new OAuthError('invalid_client', reason, { ...requester })
  const decoded = decodeAssertion(assertion)
  if (typeof decoded === 'string') throw fail(decoded)
  const { header, claims } = decoded
  const headerProblem = checkProtectedHeader(header)
  if (headerProblem) throw fail(`header ${headerProblem.member}: ${headerProblem.problem}`)
  const agencyId = claims.iss
  if (typeof agencyId !== 'string' || !UUID_PATTERN.test(agencyId)) throw fail('iss is not an agency id')
  requester.claimedIssuer = agencyId
  if (claims.sub !== agencyId) throw fail('iss and sub differ')

  const agency = await findAgency(deps.db, agencyId)
  if (!agency) throw fail('unknown agency')
  if (agency.status !== 'active') throw fail('agency suspended')
  // The key is looked up by kid among this agency's own keys only.
  const key = await findKey(deps.db, agencyId, header.kid!)
  if (key?.use !== 'sig') throw fail('no such signing key for this agency')
  if (key.status !== 'active') throw fail('key revoked')
  const alg = algForKey(key.jwk as { kty?: string; crv?: string })
  if (!alg || alg !== header.alg) throw fail('alg does not match the registered key')

  // For refusals of what the agency's own key signed (jose checks the claims only after the signature).
  const refuse = (reason: string) => new OAuthError('invalid_client', reason, { agencyId })
  const now = deps.now()
  const tokenUrl = `${deps.config.publicUrl}/v1/oauth/token`
  let verified: JWTPayload
  try {
    ;({ payload: verified } = await jwtVerify(assertion, await importJWK(key.jwk, alg), {
      algorithms: [alg],
      issuer: agencyId,
      subject: agencyId,
      audience: [tokenUrl, deps.config.publicUrl],
      clockTolerance: ASSERTION_CLOCK_SKEW_SECONDS,
      currentDate: now,
      requiredClaims: ['exp', 'iat', 'jti'],
    }))
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'invalid'
    const signed = code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' || code === 'ERR_JWT_EXPIRED'
    throw (signed ? refuse : fail)(`assertion: ${code}`)
  }
  const { exp, iat, nbf, jti } = verified as { exp: number; iat: number; nbf?: number; jti: unknown }
  const timeProblem = assertionTimeProblem({ exp, iat, nbf }, now.getTime() / 1000)
  if (timeProblem) throw refuse(timeProblem)
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 200) throw refuse('jti missing')
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
    const expiresAtMs = (exp + ASSERTION_CLOCK_SKEW_SECONDS) * 1000
    stored = await deps.redis.set(`${deps.config.queuePrefix}:jti:${digest}`, '1', 'PXAT', expiresAtMs, 'NX')
  } catch {
    // Without the replay store no assertion can be proven fresh: refuse rather than risk a replay.
    throw new OAuthError('temporarily_unavailable', 'replay store unavailable', { agencyId })
  }
  if (stored !== 'OK') throw new OAuthError('invalid_client', 'jti replayed', { agencyId })
}

/**
 * The client credentials grant. A refusal is audited (token-refusals.ts: as the agency only when its
 * key verified the assertion, within a budget per `clientAddress`) and thrown as an OAuthError.
 */
export async function issueToken(
  deps: TokenDeps,
  request: TokenRequest,
  requestId: string,
  clientAddress: string,
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
    if (!scopes) throw new OAuthError('invalid_scope', 'scope not allowed', { agencyId: agency.id })
    const ttl = deps.config.accessTokenTtlSeconds
    const token = await signAccessToken(
      deps.hubKeys,
      deps.config.publicUrl,
      { agencyId: agency.id, scopes },
      ttl,
      deps.now(),
    )
    await recordAuditEvent(deps.db, {
      actor: agency.id,
      action: 'token.issued',
      target: { type: 'token', id: agency.id },
      requestId,
      outcome: 'success',
      details: { scopes: scopes.join(' ') },
    })
    return { access_token: token, token_type: 'Bearer', expires_in: ttl, scope: scopes.join(' ') }
  } catch (error) {
    if (error instanceof OAuthError) {
      error.audited = await recordTokenRefusal(
        deps,
        { error: error.error, ...error.requester },
        requestId,
        clientAddress,
      )
    }
    throw error
  }
}

export type { Scope }
