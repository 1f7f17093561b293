import type { FieldError } from '../../lib/errors.js'
import type { PublicJwk } from './agencies.schemas.js'

/** Members that only private (or symmetric) keys carry: RFC 7518 §6.2.2, §6.3.2, §6.4.1. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const

/** Which algorithm and use each kind of key may be registered for. */
const ALLOWED: Record<string, { kty: string; crv: string; use: 'sig' | 'enc'; needsY: boolean }> = {
  ES256: { kty: 'EC', crv: 'P-256', use: 'sig', needsY: true },
  EdDSA: { kty: 'OKP', crv: 'Ed25519', use: 'sig', needsY: false },
  'ECDH-ES+A256KW/P-256': { kty: 'EC', crv: 'P-256', use: 'enc', needsY: true },
  'ECDH-ES+A256KW/X25519': { kty: 'OKP', crv: 'X25519', use: 'enc', needsY: false },
}

export function privateMembers(jwk: Record<string, unknown>, pointer: string): FieldError[] {
  return PRIVATE_MEMBERS.filter((m) => m in jwk).map((m) => ({
    pointer: `${pointer}/${m}`,
    detail: 'private key material is never sent to the hub; register the public key only',
  }))
}

/** Checks a public JWK's kty/crv/use/alg agree; returns field errors (empty when fine). */
export function checkKeyShape(jwk: PublicJwk, pointer: string): FieldError[] {
  const rule = ALLOWED[jwk.alg === 'ECDH-ES+A256KW' ? `${jwk.alg}/${jwk.crv}` : jwk.alg]
  if (!rule || rule.kty !== jwk.kty || rule.crv !== jwk.crv) {
    return [{ pointer: `${pointer}/alg`, detail: `alg ${jwk.alg} does not fit a ${jwk.kty} ${jwk.crv} key` }]
  }
  if (rule.use !== jwk.use)
    return [{ pointer: `${pointer}/use`, detail: `alg ${jwk.alg} is for use "${rule.use}"` }]
  if (rule.needsY !== (typeof jwk.y === 'string')) {
    return [{ pointer: `${pointer}/y`, detail: rule.needsY ? 'is required for EC keys' : 'is not allowed' }]
  }
  return []
}

/** Only the public members are kept. */
export function canonicalPublicJwk(jwk: PublicJwk): PublicJwk {
  const { kty, crv, x, y, kid, use, alg } = jwk
  return y === undefined ? { kty, crv, x, kid, use, alg } : { kty, crv, x, y, kid, use, alg }
}
