import { type CryptoKey, importJWK, type JWK } from 'jose'
import { loadDatabaseConfig, loadHubKeysConfig } from '../config.js'
import { createDb } from '../db/create-db.js'
import { loadHubKeys } from '../lib/hub-keys.js'
import { type AuditChainResult, AuditRangeError, verifyAuditChain } from '../modules/audit/audit.verify.js'
import { readJsonOption } from './errors.js'
import { EXIT, UsageError } from './usage.js'

/** Public Ed25519 keys by kid from a JWKS file (the hub's /.well-known/jwks.json), for an outside auditor. */
async function keysFromJwks(file: string): Promise<Map<string, CryptoKey>> {
  const jwks = (await readJsonOption('--jwks', file)) as { keys?: JWK[] }
  const keys = new Map<string, CryptoKey>()
  for (const jwk of jwks.keys ?? []) {
    if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || !jwk.kid) continue
    const { d: _private, ...publicJwk } = jwk
    keys.set(jwk.kid, (await importJWK({ ...publicJwk, alg: 'EdDSA' }, 'EdDSA')) as CryptoKey)
  }
  if (keys.size === 0) throw new UsageError(`--jwks ${file} holds no Ed25519 key with a kid`)
  return keys
}

function report(result: AuditChainResult): string {
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`
  const range =
    result.events === 0
      ? 'no events'
      : `seq ${result.fromSeq} to ${result.throughSeq} (${count(result.events, 'event')})`
  const verified = `${range}, ${count(result.checkpoints, 'signed checkpoint')}`
  if (!result.break) return `audit log intact: ${verified}\nroot ${result.headHash}\n`
  const { seq, index, kind, detail } = result.break
  return `audit log broken at seq ${seq} (index ${index}): ${kind}: ${detail}\nverified before the break: ${verified}\n`
}

export interface AuditVerifyOptions {
  from?: number | undefined
  jwks?: string | undefined
  json: boolean
}

/** `trm audit verify [--from SEQ] [--jwks FILE] [--json]`: exit 0 intact, 1 broken, 2 bad usage. */
export async function auditVerifyCommand(values: AuditVerifyOptions): Promise<number> {
  const fromSeq = values.from
  const dbConfig = loadDatabaseConfig()
  const keys = values.jwks
    ? await keysFromJwks(values.jwks)
    : (await loadHubKeys(loadHubKeysConfig())).verificationKeys
  const { db } = createDb(dbConfig, 'trm-audit-verify')
  try {
    const result = await verifyAuditChain(db, keys, fromSeq === undefined ? {} : { fromSeq })
    process.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : report(result))
    return result.intact ? EXIT.ok : EXIT.failedCheck
  } catch (error) {
    if (error instanceof AuditRangeError) throw new UsageError(error.message)
    throw error
  } finally {
    await db.destroy()
  }
}
