import { signCompact } from './compact-jws.js'
import type { HubKeys } from './hub-keys.js'

export const RECEIPT_TYP = 'trm-receipt+json'

/**
 * A hub-signed compact JWS over a small JSON object (receipt, checkpoint): anyone holding the hub
 * JWKS can verify it without trusting the hub's database.
 */
export async function signHubStatement(
  keys: HubKeys,
  typ: string,
  claims: Record<string, unknown>,
): Promise<string> {
  return signCompact(
    { typ, kid: keys.current.kid },
    Buffer.from(JSON.stringify(claims)),
    keys.current.signingKey,
    'EdDSA',
  )
}
