import { SignJWT } from 'jose'
import { type SigningKey, signingCryptoKey } from './documents.js'

/**
 * An RFC 7523 client assertion for `POST /v1/oauth/token`: iss = sub = the agency id, aud = the token
 * endpoint URL, a fresh jti, valid for `lifetimeSeconds` (the hub accepts at most 300).
 */
export async function createClientAssertion(
  agencyId: string,
  signingKey: SigningKey,
  audience: string,
  options: { lifetimeSeconds?: number; now?: Date } = {},
): Promise<string> {
  const iat = Math.floor((options.now ?? new Date()).getTime() / 1000)
  const key = await signingCryptoKey(signingKey)
  return new SignJWT({})
    .setProtectedHeader({ alg: signingKey.alg, kid: signingKey.kid, typ: 'JWT' })
    .setIssuer(agencyId)
    .setSubject(agencyId)
    .setAudience(audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + (options.lifetimeSeconds ?? 60))
    .setJti(crypto.randomUUID())
    .sign(key)
}
