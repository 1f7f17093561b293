import { createPrivateKey, sign } from 'node:crypto'

const bytesOf = (part: string | Uint8Array) => (typeof part === 'string' ? Buffer.from(part, 'utf8') : part)

/**
 * A compact JWS over exactly these header and payload bytes, signed with an agency's private JWK
 * (ES256 or EdDSA): for what no JSON serializer writes, such as two members with one name, a lone
 * surrogate or bytes that are not UTF-8. The signature is good; only the JSON is in question.
 */
export function signRawJws(
  header: string | Uint8Array,
  payload: string | Uint8Array,
  privateJwk: { alg?: string } & Record<string, unknown>,
): string {
  const input = `${Buffer.from(bytesOf(header)).toString('base64url')}.${Buffer.from(bytesOf(payload)).toString('base64url')}`
  const key = createPrivateKey({ key: privateJwk as never, format: 'jwk' })
  const signature =
    privateJwk.alg === 'EdDSA'
      ? sign(null, Buffer.from(input), key)
      : sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
  return `${input}.${signature.toString('base64url')}`
}

/** The JSON text of an object with `first` written before all its members: a second name when it repeats one. */
export function withFirstMember(value: object, name: string, first: unknown): string {
  return `{${JSON.stringify(name)}:${JSON.stringify(first)},${JSON.stringify(value).slice(1)}`
}
