import { type CompactVerifyGetKey, type CryptoKey, compactVerify, type JWSHeaderParameters } from 'jose'
import { signCompact } from './compact-jws.js'
import type { HubKeys } from './hub-keys.js'

/** The `typ` of the hub's webhook signatures (`TRM-Signature`). */
export const WEBHOOK_SIGNATURE_TYP = 'trm-webhook+jws'

/**
 * Signs bytes with the hub's current key and returns a compact JWS with detached content
 * (RFC 7515 Appendix F): `header..signature`. The payload is the exact bytes sent alongside, so the
 * receiver verifies what it received, not a re-serialisation of it.
 */
export async function signDetached(keys: HubKeys, typ: string, content: Uint8Array): Promise<string> {
  const jws = signCompact({ kid: keys.current.kid, typ }, content, keys.current.signingKey, 'EdDSA')
  const [header, , signature] = jws.split('.')
  return `${header}..${signature}`
}

/**
 * Verifies a detached compact JWS over `content` (EdDSA only, the expected `typ`, no `b64`/`crit`)
 * and returns its protected header; throws when anything does not hold.
 */
export async function verifyDetached(
  signature: string,
  content: Uint8Array,
  key: CryptoKey | CompactVerifyGetKey,
  typ: string,
): Promise<JWSHeaderParameters> {
  const parts = signature.split('.')
  if (parts.length !== 3 || parts[1] !== '') throw new Error('not a compact JWS with detached content')
  const attached = `${parts[0]}.${Buffer.from(content).toString('base64url')}.${parts[2]}`
  const { protectedHeader } = await compactVerify(attached, key as CompactVerifyGetKey, {
    algorithms: ['EdDSA'],
  })
  if ('b64' in protectedHeader || 'crit' in protectedHeader) throw new Error('b64 and crit are not accepted')
  if (protectedHeader.typ !== typ) throw new Error(`typ is not ${typ}`)
  return protectedHeader
}
