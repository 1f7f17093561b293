import type { Kysely } from 'kysely'
import type { Database } from '../../db/types.js'
import type { HubKeys } from '../../lib/hub-keys.js'
import { formatCheckpoint, signNote } from '../../lib/tlog/index.js'
import type { ChainedEvent } from './audit.core.js'
import * as repo from './audit.repository.js'
import { leafOf, writeCompletedTiles } from './audit.tree.js'
import { TreeReader } from './tree.reader.js'
import * as tree from './tree.repository.js'

/** An event as the API shows it: the fields the leaf commits to, its leaf index and leaf hash. */
export interface LeafEvent extends ChainedEvent {
  index: number
  /** Standard base64 of SHA-256(0x00 ‖ JCS(event)). */
  leafHash: string
}

export const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64')

export function toChainedEvent(record: repo.AuditEventRecord, seq: number): ChainedEvent {
  return {
    seq,
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

export function toLeafEvent(record: repo.SealedEventRecord): LeafEvent {
  return {
    ...toChainedEvent(record, record.index + 1),
    index: record.index,
    leafHash: base64(record.leaf_hash),
  }
}

export interface SealDeps {
  db: Kysely<Database>
  hubKeys: HubKeys
  /** The checkpoint origin (AUDIT_LOG_ORIGIN), also the name of the hub's note key. */
  origin: string
  now?: () => Date
  batchSize?: number
  /**
   * What a long-running sealer remembers between runs: the latest horizon below which every event
   * is sealed. A checkpoint stores one too, but only a batch that writes a checkpoint can store it:
   * after a backlog ends with a batch that went on from the one before, and nothing new comes, the
   * stored horizon stays behind and each run would search the whole log for unsealed events.
   */
  memory?: { horizon?: string }
}

/** The later of two xid8 horizons (as text). */
const laterHorizon = (a: string | undefined, b: string | undefined) =>
  a === undefined || (b !== undefined && BigInt(b) > BigInt(a)) ? b : a

/**
 * Seals every committed event that is not a leaf yet: in batches, each in one transaction that
 * inserts the batch's leaves, the tiles they complete and one checkpoint note the hub signs over the
 * new tree. Nothing is updated. Safe to call from several processes at once (they take turns).
 * Resolves to the number of events sealed.
 */
export async function sealPending(deps: SealDeps): Promise<number> {
  const batchSize = deps.batchSize ?? 500
  let total = 0
  // After the first batch, each goes on from the last event the one before sealed, so a backlog is
  // read once rather than from its start by every batch (the horizon stays until a run's first batch).
  let afterId: number | undefined
  for (;;) {
    const { sealed, lastId } = await sealBatch(deps, batchSize, afterId)
    total += sealed
    if (sealed < batchSize) return total
    afterId = lastId
  }
}

async function sealBatch(
  deps: SealDeps,
  limit: number,
  afterId: number | undefined,
): Promise<{ sealed: number; lastId: number | undefined }> {
  const batch = await deps.db.transaction().execute(async (trx) => {
    await repo.lockSealing(trx)
    // Read before the listing: every transaction older than `horizon` has ended, so the listing sees it.
    const { size, signed, lastHorizon, horizon } = await tree.sealState(trx)
    const since = laterHorizon(lastHorizon, deps.memory?.horizon)
    const pending = await repo.listUnsealed(trx, since, limit, afterId)
    // Only a batch that took everything it saw may move the horizon on; one that went on from an
    // earlier batch did not look at the events before it (one committed late may be there).
    const sealedAll = pending.length < limit && afterId === undefined
    // Leaves without a checkpoint are the old chain's, given by the migration: tile and sign them too.
    if (pending.length === 0 && size === signed) {
      return { sealed: 0, lastId: afterId, horizon: sealedAll ? horizon : undefined }
    }
    const leaves = pending.map((record, n) => ({
      index: size + n,
      eventId: record.id,
      hash: leafOf(toChainedEvent(record, size + n + 1)),
    }))
    await tree.insertLeaves(trx, leaves)
    const newSize = size + leaves.length
    await writeCompletedTiles(trx, signed, newSize)
    const rootHash = await new TreeReader(trx).root(newSize)
    const text = formatCheckpoint({ origin: deps.origin, size: newSize, rootHash, extensions: [] })
    const note = signNote(text, deps.origin, deps.hubKeys.current.signingKey)
    await tree.insertTreeCheckpoint(trx, {
      size: newSize,
      root: rootHash,
      note,
      at: (deps.now ?? (() => new Date()))(),
      horizon: sealedAll ? horizon : null,
    })
    return {
      sealed: leaves.length,
      lastId: pending.at(-1)?.id ?? afterId,
      horizon: sealedAll ? horizon : undefined,
    }
  })
  // Remembered once committed: a batch rolled back sealed nothing.
  if (deps.memory && batch.horizon !== undefined) {
    deps.memory.horizon = laterHorizon(deps.memory.horizon, batch.horizon)
  }
  return { sealed: batch.sealed, lastId: batch.lastId }
}
