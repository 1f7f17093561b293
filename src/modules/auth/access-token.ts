import { errors as joseErrors, jwtVerify, SignJWT } from 'jose'
import type { HubKeys } from '../../lib/hub-keys.js'
import type { Scope } from '../agencies/scopes.core.js'

export const ACCESS_TOKEN_TYP = 'at+jwt'
const CLOCK_SKEW_SECONDS = 30

export interface AccessTokenClaims {
  agencyId: string
  scopes: Scope[]
  /** exp plus the clock skew allowed: the last moment the token is accepted. */
  expiresAt: Date
}

/** Issues an RFC 9068 access token signed by the hub's current EdDSA key. */
export async function signAccessToken(
  keys: HubKeys,
  issuer: string,
  claims: Omit<AccessTokenClaims, 'expiresAt'>,
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
    return { agencyId: payload.sub!, scopes, expiresAt: new Date((payload.exp! + CLOCK_SKEW_SECONDS) * 1000) }
  } catch (error) {
    return { reason: (error as { code?: string }).code ?? 'invalid' }
  }
}

/**
 * verifyAccessToken with memory: a token whose signature verified once is recognised by its bytes
 * until it expires (an agency sends the same token for its whole lifetime), so the signature is
 * checked once per token rather than once per request.
 */
export class AccessTokenVerifier {
  readonly #verified = new Map<string, AccessTokenClaims>()

  constructor(
    private readonly keys: HubKeys,
    private readonly issuer: string,
    private readonly maxEntries = 10_000,
  ) {}

  async verify(token: string, now: Date): ReturnType<typeof verifyAccessToken> {
    const known = this.#verified.get(token)
    if (known && now.getTime() <= known.expiresAt.getTime()) return known
    this.#verified.delete(token)
    const verified = await verifyAccessToken(this.keys, this.issuer, token, now)
    if ('reason' in verified) return verified
    if (this.#verified.size >= this.maxEntries) this.#verified.clear()
    this.#verified.set(token, verified)
    return verified
  }
}
