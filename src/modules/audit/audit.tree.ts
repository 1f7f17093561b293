import type { Kysely } from 'kysely'
import type { Database } from '../../db/types.js'
import { foldRange, type Hash, leafHash, nodeHash, rootOf, TILE_WIDTH } from '../../lib/tlog/index.js'
import { type ChainedEvent, canonicalEvent } from './audit.core.js'
import * as tree from './tree.repository.js'

/**
 * The audit log as an RFC 9162 Merkle tree over C2SP tiles. Leaf n (index n = seq − 1) is the UTF-8
 * RFC 8785 canonical JSON of the event with seq n + 1, the same bytes the old hash chain hashed.
 * Tile L holds hashes of tree level 8·L; only complete tiles are stored (audit_tiles), the right edge
 * is computed from audit_leaves (level 0) or the roots of the complete tiles one level down.
 */
export const TILE_HEIGHT = 8

export function leafOf(event: ChainedEvent): Hash {
  return leafHash(new TextEncoder().encode(canonicalEvent(event)))
}

/** The MTH of a power-of-two number of hashes (a complete subtree). */
export function perfectRoot(hashes: readonly Hash[]): Hash {
  let level = [...hashes]
  while (level.length > 1) {
    const next: Hash[] = []
    for (let i = 0; i < level.length; i += 2) next.push(nodeHash(level[i]!, level[i + 1]!))
    level = next
  }
  return level[0]!
}

export function concatHashes(hashes: readonly Hash[]): Uint8Array {
  const out = new Uint8Array(hashes.length * 32)
  for (const [i, h] of hashes.entries()) out.set(h, i * 32)
  return out
}

export function splitHashes(bytes: Uint8Array): Hash[] {
  const out: Hash[] = []
  for (let i = 0; i + 32 <= bytes.length; i += 32) out.push(bytes.subarray(i, i + 32))
  return out
}

/** How many hashes tree level 8·level has in a tree of `size` leaves. */
export const entriesAt = (size: number, level: number) => Math.floor(size / TILE_WIDTH ** level)

/**
 * Writes every tile that became complete when the tree grew from `from` to `to` leaves (the new
 * leaves are written already, in this transaction), with each tile's root for the level above.
 */
export async function writeCompletedTiles(db: Kysely<Database>, from: number, to: number): Promise<number> {
  let written = 0
  for (let level = 0; entriesAt(to, level) >= TILE_WIDTH; level += 1) {
    const firstNew = Math.floor(entriesAt(from, level) / TILE_WIDTH)
    const end = Math.floor(entriesAt(to, level) / TILE_WIDTH)
    const tiles = []
    for (let index = firstNew; index < end; index += 1) {
      const start = index * TILE_WIDTH
      const entries =
        level === 0
          ? await tree.leafHashes(db, start, start + TILE_WIDTH)
          : await tree.tileRoots(db, level - 1, start, start + TILE_WIDTH)
      if (entries.length !== TILE_WIDTH) throw new Error(`audit tree: tile ${level}/${index} is incomplete`)
      tiles.push({ level, index, hashes: concatHashes(entries), root: perfectRoot(entries) })
    }
    await tree.insertTiles(db, tiles)
    written += tiles.length
  }
  return written
}

/**
 * The RFC 9162 tree hash built leaf by leaf in O(log n) memory (verification streams through the
 * whole log): a stack of complete-subtree roots, largest first.
 */
export class TreeBuilder {
  size = 0
  private readonly stack: { height: number; hash: Hash }[] = []

  push(leaf: Hash): void {
    let node = { height: 0, hash: leaf }
    for (let top = this.stack.at(-1); top && top.height === node.height; top = this.stack.at(-1)) {
      this.stack.pop()
      node = { height: node.height + 1, hash: nodeHash(top.hash, node.hash) }
    }
    this.stack.push(node)
    this.size += 1
  }

  root(): Hash {
    return this.stack.length === 0 ? rootOf([]) : foldRange(this.stack.map((n) => n.hash))
  }
}
