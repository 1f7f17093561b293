import { type CryptoKey, compactVerify, errors as joseErrors } from 'jose'
import type { Kysely, Transaction } from 'kysely'
import type { AuditCheckpointRow, Database } from '../../db/types.js'
import {
  CHECKPOINT_TYP,
  type ChainBreak,
  ChainVerifier,
  type CheckpointToVerify,
  GENESIS_HASH,
  type SealedEvent,
  sealedAs,
} from './audit.core.js'
import * as repo from './audit.repository.js'
import { toSealedEvent } from './audit.service.js'

export interface AuditChainResult {
  intact: boolean
  fromSeq: number
  /** The last seq that verified (fromSeq - 1 when none did) and its hash. */
  throughSeq: number
  headHash: string
  events: number
  checkpoints: number
  break: ChainBreak | null
}

const EMPTY = { intact: false, events: 0, checkpoints: 0 } as const

/** --from names a seq past the end of the chain. */
export class AuditRangeError extends RangeError {
  override name = 'AuditRangeError'
}

/** The payload of a checkpoint JWS signed by one of the hub keys with typ trm-checkpoint+json, else null. */
export async function checkpointClaims(
  jws: string,
  verificationKeys: ReadonlyMap<string, CryptoKey>,
): Promise<unknown> {
  try {
    const { payload } = await compactVerify(
      jws,
      (header) => {
        const key = header.kid ? verificationKeys.get(header.kid) : undefined
        if (!key || header.typ !== CHECKPOINT_TYP) throw new joseErrors.JWKSNoMatchingKey()
        return key
      },
      { algorithms: ['EdDSA'] },
    )
    return JSON.parse(new TextDecoder().decode(payload)) as unknown
  } catch {
    return null
  }
}

async function toCheckpoint(
  row: AuditCheckpointRow,
  keys: ReadonlyMap<string, CryptoKey>,
): Promise<CheckpointToVerify> {
  return {
    seq: row.seq,
    hash: row.hash,
    at: row.at.toISOString(),
    claims: await checkpointClaims(row.jws, keys),
  }
}

/**
 * Recomputes the audit chain from the database and checks every checkpoint's signature and hash, in
 * one consistent snapshot (a sealer may keep running). Stops at the first break.
 */
export async function verifyAuditChain(
  db: Kysely<Database>,
  verificationKeys: ReadonlyMap<string, CryptoKey>,
  options: { fromSeq?: number; pageSize?: number } = {},
): Promise<AuditChainResult> {
  const fromSeq = options.fromSeq ?? 1
  const pageSize = options.pageSize ?? 1000
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => {
      const prevHash = await startOf(trx, fromSeq)
      if (prevHash === null) {
        const detail = `no event with seq ${fromSeq}`
        const missing: ChainBreak = { seq: fromSeq, kind: 'missing', detail }
        return { ...EMPTY, fromSeq, throughSeq: fromSeq - 1, headHash: '', break: missing }
      }
      const verifier = new ChainVerifier({ fromSeq, prevHash })
      let after = fromSeq - 1
      for (;;) {
        const page = await repo.listSealed(trx, { afterSeq: after, limit: pageSize })
        const through = page.at(-1)?.seq
        if (through === undefined) break
        for (const row of await repo.listCheckpoints(trx, after + 1, through)) {
          verifier.expectCheckpoint(await toCheckpoint(row, verificationKeys))
        }
        for (const record of page) {
          const event = toSealedEvent(record)
          const broken = verifier.addEvent(event)
          if (broken) {
            if (broken.kind === 'changed' && verifier.head.seq < event.seq) await relocate(trx, broken, event)
            break
          }
        }
        after = through
        if (page.length < pageSize || verifier.broken) break
      }
      // A checkpoint past the last event means events were taken from the end.
      if (!verifier.broken) {
        const beyond = await repo.listCheckpoints(trx, after + 1)
        for (const row of beyond) verifier.expectCheckpoint(await toCheckpoint(row, verificationKeys))
      }
      const broken = verifier.finish()
      return {
        intact: !broken,
        fromSeq,
        throughSeq: verifier.head.seq,
        headHash: verifier.head.hash,
        events: verifier.events,
        checkpoints: verifier.checkpoints,
        break: broken ?? null,
      }
    })
}

/** Where the chain starts: genesis, or the stored link of the first seq asked for (null: it is gone). */
async function startOf(trx: Transaction<Database>, fromSeq: number): Promise<string | null> {
  if (fromSeq === 1) return GENESIS_HASH
  const record = await repo.findSealedAt(trx, fromSeq)
  if (record) return record.prev_hash
  const head = await repo.findChainHead(trx)
  if (!head || head.seq < fromSeq) {
    throw new AuditRangeError(`--from ${fromSeq} is past the end of the chain (seq ${head?.seq ?? 0})`)
  }
  return null
}

/**
 * A changed event may be another seq's event moved here (contents swapped): look for the place in the
 * rest of the chain where its content was sealed, and call the break a reordering if there is one.
 */
async function relocate(trx: Transaction<Database>, broken: ChainBreak, event: SealedEvent) {
  for (let after = event.seq; ; ) {
    const page = await repo.listSealed(trx, { afterSeq: after, limit: 1000 })
    for (const record of page) {
      if (sealedAs(event, toSealedEvent(record))) {
        broken.kind = 'reordered'
        broken.detail = `seq ${event.seq} holds the event sealed as seq ${record.seq}`
        return
      }
    }
    if (page.length < 1000) return
    after = page.at(-1)!.seq
  }
}
