import type { Kysely } from 'kysely'
import type { Database } from '../../db/types.js'
import type { HubKeys } from '../../lib/hub-keys.js'
import { signHubStatement } from '../../lib/receipts.js'
import { CHECKPOINT_TYP, type SealedEvent, sealEvents, type UnsealedEvent } from './audit.core.js'
import * as repo from './audit.repository.js'

export function toUnsealedEvent(record: repo.AuditEventRecord): UnsealedEvent & { id: number } {
  return {
    id: record.id,
    at: record.at,
    actor: record.actor,
    action: record.action,
    target: { type: record.target_type, id: record.target_id },
    referralId: record.referral_id,
    requestId: record.request_id,
    outcome: record.outcome,
    details: record.details,
  }
}

export function toSealedEvent(record: repo.SealedEventRecord): SealedEvent {
  const { id: _id, ...event } = toUnsealedEvent(record)
  return { seq: record.seq, ...event, prevHash: record.prev_hash, hash: record.hash }
}

export interface SealDeps {
  db: Kysely<Database>
  hubKeys: HubKeys
  now?: () => Date
  batchSize?: number
}

/**
 * Seals every committed, unsealed event: in batches, in insertion order, each batch in one
 * transaction with the checkpoint the hub signs over its last event. Safe to call from several
 * processes at once (they take turns). Resolves to the number of events sealed.
 */
export async function sealPending(deps: SealDeps): Promise<number> {
  const batchSize = deps.batchSize ?? 500
  let total = 0
  for (;;) {
    const sealed = await sealBatch(deps, batchSize)
    total += sealed
    if (sealed < batchSize) return total
  }
}

async function sealBatch(deps: SealDeps, limit: number): Promise<number> {
  return deps.db.transaction().execute(async (trx) => {
    await repo.lockSealing(trx)
    const unsealed = await repo.listUnsealed(trx, limit)
    if (unsealed.length === 0) return 0
    const sealed = sealEvents(await repo.findChainHead(trx), unsealed.map(toUnsealedEvent))
    const last = sealed.at(-1)!
    const at = (deps.now ?? (() => new Date()))()
    const claims = { seq: last.seq, hash: last.hash, at: at.toISOString() }
    // Signed before anything is written: see writeSeals.
    const jws = await signHubStatement(deps.hubKeys, CHECKPOINT_TYP, claims)
    const written = await repo.writeSeals(trx, sealed, { ...claims, at, jws })
    if (written !== sealed.length) throw new Error(`sealed ${written} of ${sealed.length} audit events`)
    return sealed.length
  })
}
