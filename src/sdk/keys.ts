import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose'

export type SigningAlg = 'ES256' | 'EdDSA'

/** An agency's private keys (kept by the agency) and the public JWKS it registers with the hub. */
export interface AgencyKeys {
  signing: JWK & { kid: string; alg: SigningAlg; use: 'sig'; d: string }
  encryption: JWK & { kid: string; alg: 'ECDH-ES+A256KW'; use: 'enc'; d: string }
  publicJwks: { keys: (JWK & { kid: string })[] }
}

const publicPart = ({ d: _d, ...rest }: JWK & { kid: string }) => rest

/**
 * Generates a signing key (ES256 by default, or EdDSA) and an ECDH-ES P-256 encryption key, each with
 * its RFC 7638 thumbprint as kid. Private keys never leave the agency; register `publicJwks` only.
 */
export async function generateAgencyKeys(alg: SigningAlg = 'ES256'): Promise<AgencyKeys> {
  const signingPair = await generateKeyPair(alg, {
    extractable: true,
    ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}),
  })
  const encryptionPair = await generateKeyPair('ECDH-ES+A256KW', { extractable: true, crv: 'P-256' })
  const signingJwk = await exportJWK(signingPair.privateKey)
  const encryptionJwk = await exportJWK(encryptionPair.privateKey)
  const signing = {
    ...signingJwk,
    kid: `sig-${await calculateJwkThumbprint(signingJwk)}`,
    alg,
    use: 'sig' as const,
    d: signingJwk.d!,
  }
  const encryption = {
    ...encryptionJwk,
    kid: `enc-${await calculateJwkThumbprint(encryptionJwk)}`,
    alg: 'ECDH-ES+A256KW' as const,
    use: 'enc' as const,
    d: encryptionJwk.d!,
  }
  return { signing, encryption, publicJwks: { keys: [publicPart(signing), publicPart(encryption)] } }
}
