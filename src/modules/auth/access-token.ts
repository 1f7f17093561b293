import { errors as joseErrors, jwtVerify, SignJWT } from 'jose'
import type { HubKeys } from '../../lib/hub-keys.js'
import type { Scope } from './auth.core.js'

export const ACCESS_TOKEN_TYP = 'at+jwt'
const CLOCK_SKEW_SECONDS = 30

export interface AccessTokenClaims {
  agencyId: string
  scopes: Scope[]
}

/** Issues an RFC 9068 access token signed by the hub's current EdDSA key. */
export async function signAccessToken(
  keys: HubKeys,
  issuer: string,
  claims: AccessTokenClaims,
  ttlSeconds: number,
  now: Date,
): Promise<string> {
  const iat = Math.floor(now.getTime() / 1000)
  return new SignJWT({ scope: claims.scopes.join(' '), client_id: claims.agencyId })
    .setProtectedHeader({ alg: 'EdDSA', typ: ACCESS_TOKEN_TYP, kid: keys.current.kid })
    .setIssuer(issuer)
    .setAudience(issuer)
    .setSubject(claims.agencyId)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttlSeconds)
    .setJti(crypto.randomUUID())
    .sign(keys.current.privateKey)
}

/**
 * Verifies an access token: hub key by kid, EdDSA only, issuer and audience the hub, typ at+jwt,
 * at most 30 s of clock skew. Returns undefined on any failure (the caller answers one 401).
 */
export async function verifyAccessToken(
  keys: HubKeys,
  issuer: string,
  token: string,
  now: Date,
): Promise<(AccessTokenClaims & { reason?: never }) | { reason: string }> {
  try {
    const { payload } = await jwtVerify(
      token,
      (header) => {
        const key = header.kid ? keys.verificationKeys.get(header.kid) : undefined
        if (!key) throw new joseErrors.JWKSNoMatchingKey()
        return key
      },
      {
        algorithms: ['EdDSA'],
        issuer,
        audience: issuer,
        typ: ACCESS_TOKEN_TYP,
        clockTolerance: CLOCK_SKEW_SECONDS,
        currentDate: now,
        requiredClaims: ['sub', 'exp', 'iat'],
      },
    )
    const scopes = typeof payload['scope'] === 'string' ? (payload['scope'].split(' ') as Scope[]) : []
    return { agencyId: payload.sub!, scopes }
  } catch (error) {
    return { reason: (error as { code?: string }).code ?? 'invalid' }
  }
}
