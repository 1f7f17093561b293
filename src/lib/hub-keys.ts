import type { KeyObject } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { type CryptoKey, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose'
import { privateKeyFor } from './compact-jws.js'
import { ConfigError } from './env-schema.js'

/** The hub's own EdDSA signing keys. The first is used to sign; all are published for verification. */
export interface HubKeys {
  readonly current: {
    readonly kid: string
    readonly privateKey: CryptoKey
    /** The same key for node:crypto (compact-jws.ts), which signs receipts and webhooks. */
    readonly signingKey: KeyObject
  }
  readonly publicJwks: { keys: HubPublicJwk[] }
  readonly verificationKeys: ReadonlyMap<string, CryptoKey>
}

type PrivateJwk = JWK & { kid: string; d: string }

/** The signing key and the older ones still published so that their signatures stay checkable. */
export const MAX_HUB_KEYS = 10

/** A hub signing key as the hub publishes it (GET /.well-known/jwks.json). */
export interface HubPublicJwk {
  kty: 'OKP'
  crv: 'Ed25519'
  x: string
  kid: string
  alg: 'EdDSA'
  use: 'sig'
}

function parseKeys(text: string, origin: string): PrivateJwk[] {
  let parsed: JWK | { keys: JWK[] }
  try {
    parsed = JSON.parse(text) as JWK | { keys: JWK[] }
  } catch {
    throw new Error(`${origin}: not JSON (a private Ed25519 JWK, or a JWKS of them)`)
  }
  const keys = 'keys' in parsed && Array.isArray(parsed.keys) ? parsed.keys : [parsed as JWK]
  if (keys.length === 0) throw new Error(`${origin}: no keys`)
  if (keys.length > MAX_HUB_KEYS) throw new Error(`${origin}: at most ${MAX_HUB_KEYS} keys`)
  for (const key of keys) {
    if (key.kty !== 'OKP' || key.crv !== 'Ed25519' || !key.d || !key.kid) {
      throw new Error(`${origin}: every hub signing key must be a private Ed25519 JWK with a kid`)
    }
  }
  return keys as PrivateJwk[]
}

/** A key file that cannot be read, as a configuration error naming the variable and the file (not a bare ENOENT). */
function unreadableKeyFile(file: string, error: NodeJS.ErrnoException): ConfigError {
  const why =
    error.code === 'ENOENT'
      ? 'does not exist (HUB_SIGNING_KEYS_GENERATE=true creates it with a new key, for development only)'
      : error.code === 'EACCES' || error.code === 'EPERM'
        ? 'is not readable by this user'
        : error.code === 'EISDIR'
          ? 'is a directory, not a file'
          : `cannot be read (${error.code ?? error.message})`
  return new ConfigError([{ variable: 'HUB_SIGNING_KEYS_FILE', message: `${file} ${why}` }])
}

/** Generates a fresh hub signing key as a private JWK (kid from the RFC 7638 thumbprint date). */
export async function generateHubKey(): Promise<PrivateJwk> {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
  const jwk = await exportJWK(privateKey)
  const kid = `hub-${new Date().toISOString().slice(0, 10)}-${crypto.randomUUID().slice(0, 8)}`
  return { ...jwk, kid, alg: 'EdDSA', use: 'sig' } as PrivateJwk
}

/**
 * Loads the hub keys from inline JSON or a file. With `generate`, a missing file is created with a
 * fresh key (development only: production keys come from the secret store).
 */
export async function loadHubKeys(source: {
  json?: string
  file?: string
  generate: boolean
}): Promise<HubKeys> {
  let keys: PrivateJwk[]
  if (source.json) {
    keys = parseKeys(source.json, 'HUB_SIGNING_KEYS')
  } else if (source.file) {
    const text = await readFile(source.file, 'utf8').catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT' || !source.generate) throw unreadableKeyFile(source.file!, error)
      const created = JSON.stringify({ keys: [await generateHubKey()] }, null, 2)
      await mkdir(path.dirname(source.file!), { recursive: true })
      // wx: two processes starting together must not overwrite each other's key
      await writeFile(source.file!, created, { mode: 0o600, flag: 'wx' }).catch(() => {})
      return readFile(source.file!, 'utf8')
    })
    keys = parseKeys(text, `HUB_SIGNING_KEYS_FILE ${source.file}`)
  } else {
    throw new Error('no hub signing keys configured')
  }
  const verificationKeys = new Map<string, CryptoKey>()
  const publicKeys: HubPublicJwk[] = []
  for (const key of keys) {
    const { d: _d, ...publicJwk } = key
    publicKeys.push({ kty: 'OKP', crv: 'Ed25519', x: key.x!, kid: key.kid, alg: 'EdDSA', use: 'sig' })
    verificationKeys.set(key.kid, (await importJWK({ ...publicJwk, alg: 'EdDSA' }, 'EdDSA')) as CryptoKey)
  }
  const first = keys[0]!
  return {
    current: {
      kid: first.kid,
      privateKey: (await importJWK(first, 'EdDSA')) as CryptoKey,
      signingKey: privateKeyFor(first, 'EdDSA'),
    },
    publicJwks: { keys: publicKeys },
    verificationKeys,
  }
}
