import type { Kysely } from 'kysely'
import type { Database } from '../../db/types.js'
import {
  consistencyProofRanges,
  foldRange,
  type Hash,
  inclusionProofRanges,
  type NodeId,
  nodeHash,
  rangeOf,
  rootOf,
  TILE_WIDTH,
} from '../../lib/tlog/index.js'
import { concatHashes, entriesAt, TILE_HEIGHT } from './audit.tree.js'
import * as tree from './tree.repository.js'

/**
 * A tile with every node it holds: level h is the concatenated roots of its complete runs of 2^h
 * entries (level 0 the entries themselves, level 8 of a full tile its root).
 */
type TileNodes = Uint8Array[]

function tileNodes(entries: Uint8Array): TileNodes {
  const levels = [entries]
  for (let n = Math.floor(entries.length / 64); n >= 1; n = Math.floor(n / 2)) {
    const below = levels.at(-1)!
    const level = new Uint8Array(n * 32)
    for (let j = 0; j < n; j += 1) {
      level.set(
        nodeHash(below.subarray(64 * j, 64 * j + 32), below.subarray(64 * j + 32, 64 * j + 64)),
        32 * j,
      )
    }
    levels.push(level)
  }
  return levels
}

/**
 * Reads the audit tree's complete subtrees from its tiles (RFC 9162 proofs, roots, C2SP tiles).
 * A tile is read and hashed up once per reader and kept, least recently used first out, up to
 * `capacity` tiles (16 KiB each): a proof then costs one tile read when its upper tiles are warm.
 * Tiles never change once the tree holds them (the log is append-only; a partial tile is kept under
 * its width), so an API process keeps one reader for its life. The sealer takes a fresh reader per
 * transaction: what it reads there is not committed yet.
 */
export class TreeReader {
  private readonly tiles = new Map<string, Promise<TileNodes>>()
  /** The size of the latest checkpoint seen: any size up to it needs no query to be allowed. */
  private checkpointSize = 0

  constructor(
    private readonly db: Kysely<Database>,
    private readonly capacity = Number.POSITIVE_INFINITY,
  ) {}

  /** Whether a checkpoint of at least `size` leaves is signed; the latest size otherwise. */
  async covers(size: number): Promise<{ covered: boolean; latest: number }> {
    if (size <= this.checkpointSize) return { covered: true, latest: this.checkpointSize }
    const latest = (await tree.findLatestTreeCheckpoint(this.db))?.size ?? 0
    this.checkpointSize = Math.max(this.checkpointSize, latest)
    return { covered: size <= latest, latest }
  }

  /** The hashes of tile (level, index) in a tree of `size` leaves: 256, or fewer at the right edge. */
  async entries(size: number, level: number, index: number): Promise<Uint8Array> {
    return (await this.tile(size, level, index))[0] ?? new Uint8Array(0)
  }

  /** Hashes of complete subtrees of a tree of `size` leaves. */
  async nodes(size: number, ids: readonly NodeId[]): Promise<Hash[]> {
    return Promise.all(
      ids.map(async (id) => {
        const height = id.level % TILE_HEIGHT
        const first = id.index * 2 ** height
        const tile = await this.tile(size, Math.floor(id.level / TILE_HEIGHT), Math.floor(first / TILE_WIDTH))
        const at = (first % TILE_WIDTH) / 2 ** height
        const hash = tile[height]?.subarray(32 * at, 32 * at + 32)
        if (hash?.length !== 32) throw new Error(`audit tree: node ${id.level}/${id.index} is missing`)
        return hash
      }),
    )
  }

  async root(size: number): Promise<Hash> {
    if (size === 0) return rootOf([])
    const [root] = await this.fold(size, [rangeOf(0, size)])
    return root!
  }

  inclusionProof(index: number, size: number): Promise<Hash[]> {
    return this.fold(size, inclusionProofRanges(index, size))
  }

  consistencyProof(from: number, to: number): Promise<Hash[]> {
    return this.fold(to, consistencyProofRanges(from, to))
  }

  private async fold(size: number, ranges: NodeId[][]): Promise<Hash[]> {
    const hashes = await this.nodes(size, ranges.flat())
    let at = 0
    return ranges.map((range) => {
      const part = hashes.slice(at, at + range.length)
      at += range.length
      return foldRange(part)
    })
  }

  private tile(size: number, level: number, index: number): Promise<TileNodes> {
    const width = Math.min(TILE_WIDTH, entriesAt(size, level) - index * TILE_WIDTH)
    if (width <= 0) return Promise.resolve([])
    const key = `${level}/${index}/${width}`
    const kept = this.tiles.get(key)
    if (kept) {
      this.tiles.delete(key)
      this.tiles.set(key, kept)
      return kept
    }
    const read = this.read(level, index, width).then(tileNodes)
    this.tiles.set(key, read)
    read.catch(() => {
      if (this.tiles.get(key) === read) this.tiles.delete(key)
    })
    if (this.tiles.size > this.capacity) this.tiles.delete(this.tiles.keys().next().value!)
    return read
  }

  private async read(level: number, index: number, width: number): Promise<Uint8Array> {
    if (width === TILE_WIDTH) {
      const full = await tree.findTile(this.db, level, index)
      if (full) return full.hashes
    }
    const start = index * TILE_WIDTH
    const entries =
      level === 0
        ? await tree.leafHashes(this.db, start, start + width)
        : await tree.tileRoots(this.db, level - 1, start, start + width)
    return concatHashes(entries)
  }
}
