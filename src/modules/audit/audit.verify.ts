import { type CryptoKey, exportJWK } from 'jose'
import type { Kysely, Transaction } from 'kysely'
import type { Database } from '../../db/types.js'
import { type Hash, parseCheckpoint, sameHash, TILE_WIDTH, verifyNote } from '../../lib/tlog/index.js'
import * as repo from './audit.repository.js'
import { toChainedEvent } from './audit.service.js'
import { leafOf, perfectRoot, splitHashes, TreeBuilder } from './audit.tree.js'
import * as tree from './tree.repository.js'

export type BreakKind = 'changed' | 'missing' | 'reordered' | 'forged-checkpoint'

/** The first place where the stored log is not what was sealed: seq = index + 1. */
export interface TreeBreak {
  seq: number
  index: number
  kind: BreakKind
  detail: string
}

export interface AuditChainResult {
  intact: boolean
  fromSeq: number
  /** The last seq (leaf index + 1) that verified, and the tree root (base64) over seq 1 to it. */
  throughSeq: number
  headHash: string
  events: number
  checkpoints: number
  break: TreeBreak | null
}

/** --from names a seq past the end of the log. */
export class AuditRangeError extends RangeError {
  override name = 'AuditRangeError'
}

type Row = Awaited<ReturnType<typeof repo.listLeavesForVerify>>[number]
type CheckpointRow = Awaited<ReturnType<typeof tree.listTreeCheckpoints>>[number]

const at = (index: number, kind: BreakKind, detail: string): TreeBreak => ({
  seq: index + 1,
  index,
  kind,
  detail,
})

/** The raw Ed25519 public keys of the hub's verification keys (the note signatures use them). */
async function rawKeys(keys: ReadonlyMap<string, CryptoKey>): Promise<Uint8Array[]> {
  const raw: Uint8Array[] = []
  for (const key of keys.values()) {
    const jwk = await exportJWK(key)
    if (jwk.crv === 'Ed25519' && jwk.x) raw.push(new Uint8Array(Buffer.from(jwk.x, 'base64url')))
  }
  return raw
}

/** True when the note is a checkpoint of exactly this size and root, signed by one of the hub keys. */
function signedByHub(row: CheckpointRow, keys: readonly Uint8Array[]): boolean {
  try {
    const checkpoint = parseCheckpoint(row.note.slice(0, row.note.lastIndexOf('\n\n') + 1))
    if (checkpoint.size !== row.size || !sameHash(checkpoint.rootHash, row.root)) return false
    return keys.some((key) => {
      try {
        return verifyNote(row.note, checkpoint.origin, key) !== ''
      } catch {
        return false
      }
    })
  } catch {
    return false
  }
}

/**
 * Checks the stored tree level by level as leaves arrive: each complete tile against audit_tiles.
 * Returns the first leaf index under a hash that differs.
 */
class TileChecker {
  private readonly levels: Hash[][] = []
  private readonly done: number[] = []
  constructor(private readonly trx: Transaction<Database>) {}

  async push(hash: Hash, level = 0): Promise<number | undefined> {
    const entries = this.levels[level] ?? []
    this.levels[level] = entries
    entries.push(hash)
    if (entries.length < TILE_WIDTH) return undefined
    const index = this.done[level] ?? 0
    this.done[level] = index + 1
    this.levels[level] = []
    const leavesPerEntry = TILE_WIDTH ** level
    const stored = await tree.findTile(this.trx, level, index)
    const mine = splitHashes(stored?.hashes ?? new Uint8Array())
    const differs = entries.findIndex((h, n) => !mine[n] || !sameHash(h, mine[n]))
    if (differs >= 0) return (index * TILE_WIDTH + differs) * leavesPerEntry
    const root = perfectRoot(entries)
    if (!stored || !sameHash(stored.root, root)) return index * TILE_WIDTH * leavesPerEntry
    return this.push(root, level + 1)
  }
}

/**
 * Recomputes every leaf from its event, the tiles from the leaves and the root at every stored
 * checkpoint, and checks each checkpoint's signature, in one consistent snapshot (a sealer may keep
 * running). Stops at the first break. Leaves before fromSeq are taken as stored (not recomputed).
 */
export async function verifyAuditChain(
  db: Kysely<Database>,
  verificationKeys: ReadonlyMap<string, CryptoKey>,
  options: { fromSeq?: number; pageSize?: number } = {},
): Promise<AuditChainResult> {
  const fromSeq = options.fromSeq ?? 1
  const pageSize = options.pageSize ?? 1000
  const keys = await rawKeys(verificationKeys)
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => {
      const size = await tree.countLeaves(trx)
      if (fromSeq > 1 && fromSeq > size) {
        throw new AuditRangeError(`--from ${fromSeq} is past the end of the log (seq ${size})`)
      }
      const checkpoints = await tree.listTreeCheckpoints(trx)
      const builder = new TreeBuilder()
      const tiles = new TileChecker(trx)
      let covered = 0
      let verifiedCheckpoints = 0
      let broken: TreeBreak | undefined
      /** How far the log verified when it broke: the leaves before a bad leaf, the last good checkpoint. */
      let through: number | undefined
      const result = () => ({
        intact: !broken,
        fromSeq,
        throughSeq: through ?? builder.size,
        headHash: Buffer.from(builder.root()).toString('base64'),
        events: Math.max(0, builder.size - (fromSeq - 1)),
        checkpoints: verifiedCheckpoints,
        break: broken ?? null,
      })
      const checkCheckpoints = () => {
        while (checkpoints[0] && checkpoints[0].size <= builder.size) {
          const checkpoint = checkpoints.shift()!
          if (!signedByHub(checkpoint, keys)) {
            through = builder.size
            return at(
              checkpoint.size - 1,
              'forged-checkpoint',
              'the checkpoint note is not signed by a hub key',
            )
          }
          if (!sameHash(builder.root(), checkpoint.root)) {
            through = covered
            return at(
              checkpoint.size - 1,
              'changed',
              `the tree of size ${checkpoint.size} is not the one the hub signed at ` +
                `${checkpoint.at.toISOString()}: an event after seq ${covered} was altered and the tree rehashed`,
            )
          }
          covered = checkpoint.size
          verifiedCheckpoints += 1
        }
        return undefined
      }

      pages: for (let from = 0; ; ) {
        const page = await repo.listLeavesForVerify(trx, from, pageSize)
        for (const row of page) {
          const index = builder.size
          if (row.index !== index) {
            broken = at(index, 'missing', `no leaf with index ${index}`)
            break pages
          }
          broken = await checkLeaf(trx, row, fromSeq)
          if (broken) break pages
          const hash = index < fromSeq - 1 ? row.leaf_hash : leafOf(toChainedEvent(eventOf(row), index + 1))
          builder.push(hash)
          const tileBreak = await tiles.push(hash)
          if (tileBreak !== undefined) {
            broken = at(
              tileBreak,
              'changed',
              `the stored tile hashes differ from the leaves at index ${tileBreak}`,
            )
            break pages
          }
          broken = checkCheckpoints()
          if (broken) break pages
        }
        if (page.length < pageSize) break
        from = page.at(-1)!.index + 1
      }
      if (broken && through === undefined) through = Math.min(broken.index, builder.size)
      if (!broken && checkpoints[0]) {
        const index = builder.size
        broken = at(
          index,
          'missing',
          `the log ends at seq ${index} but a signed checkpoint covers seq ${checkpoints[0].size}`,
        )
      }
      if (!broken && builder.size > covered) {
        broken = at(covered, 'missing', `no signed checkpoint covers seq ${covered + 1} to ${builder.size}`)
      }
      return result()
    })
}

function eventOf(row: Row): repo.AuditEventRecord {
  return {
    id: row.id!,
    at: row.at!,
    actor: row.actor!,
    action: row.action!,
    target_type: row.target_type!,
    target_id: row.target_id!,
    referral_id: row.referral_id,
    request_id: row.request_id,
    outcome: row.outcome!,
    details: row.details!,
  }
}

/** The leaf's event is there and hashes to the leaf; if not, whether it was deleted or moved. */
async function checkLeaf(
  trx: Transaction<Database>,
  row: Row,
  fromSeq: number,
): Promise<TreeBreak | undefined> {
  if (row.index < fromSeq - 1) return undefined
  if (row.id === null) return at(row.index, 'missing', `the event of leaf ${row.index} is gone`)
  const event = eventOf(row)
  if (sameHash(leafOf(toChainedEvent(event, row.index + 1)), row.leaf_hash)) return undefined
  // Moved here from another place? Look for the leaf this content was sealed as.
  for (let from = 0; ; ) {
    const page = await repo.listLeavesForVerify(trx, from, 1000)
    for (const other of page) {
      if (
        other.index !== row.index &&
        sameHash(leafOf(toChainedEvent(event, other.index + 1)), other.leaf_hash)
      ) {
        return at(
          row.index,
          'reordered',
          `seq ${row.index + 1} holds the event sealed as seq ${other.index + 1}`,
        )
      }
    }
    if (page.length < 1000) break
    from = page.at(-1)!.index + 1
  }
  return at(row.index, 'changed', 'the event no longer hashes to its leaf')
}
