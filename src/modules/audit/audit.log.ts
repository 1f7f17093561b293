import type { Kysely } from 'kysely'
import type { Database } from '../../db/types.js'
import { HubError } from '../../lib/errors.js'
import {
  parseCheckpoint,
  parseNote,
  parseTilePath,
  parseVerifierKey,
  TILE_WIDTH,
  TlogFormatError,
  verifyCosignature,
} from '../../lib/tlog/index.js'
import { findLeaf } from './audit.repository.js'
import { base64 } from './audit.service.js'
import { entriesAt } from './audit.tree.js'
import type { TreeReader } from './tree.reader.js'
import * as tree from './tree.repository.js'

/** The transparency log as the API serves it: checkpoints, proofs, tiles, witnesses, cosignatures. */

export interface Witness {
  name: string
  key: string
  keyId: Uint8Array
  publicKey: Uint8Array
}

/** The witnesses registered by the operator (AUDIT_WITNESS_KEYS, C2SP vkeys). */
export function witnessesOf(vkeys: readonly string[]): Witness[] {
  return vkeys.map((key) => ({ key, ...parseVerifierKey(key) }))
}

export interface CheckpointView {
  origin: string
  size: number
  rootHash: string
  at: string
  /** The signed note: the checkpoint text, the hub's signature line and every stored cosignature line. */
  note: string
  cosignatures: { name: string; time: number; line: string }[]
}

type CheckpointRow = NonNullable<Awaited<ReturnType<typeof tree.findLatestTreeCheckpoint>>>

const SIGNATURE_LINE = /^\u2014 /u

async function toView(db: Kysely<Database>, row: CheckpointRow): Promise<CheckpointView> {
  const cosignatures = await tree.listCosignatures(db, row.size)
  const { origin } = parseCheckpoint(parseNote(row.note).text)
  return {
    origin,
    size: row.size,
    rootHash: base64(row.root),
    at: row.at.toISOString(),
    note: row.note + cosignatures.map((c) => `${c.line}\n`).join(''),
    cosignatures: cosignatures.map((c) => ({ name: c.witness, time: c.time, line: c.line })),
  }
}

export async function latestTreeCheckpoint(db: Kysely<Database>): Promise<CheckpointView | undefined> {
  const row = await tree.findLatestTreeCheckpoint(db)
  return row ? toView(db, row) : undefined
}

export async function requireLatestCheckpoint(db: Kysely<Database>): Promise<CheckpointView> {
  const view = await latestTreeCheckpoint(db)
  if (!view) throw new HubError('TRM_NOT_FOUND', 'No audit checkpoint has been signed yet.')
  return view
}

/** What the proofs and tiles are read through: one TreeReader per API process. */
export interface TreeDeps {
  db: Kysely<Database>
  tree: TreeReader
}

async function checkSize(deps: TreeDeps, size: number): Promise<void> {
  const { covered, latest } = await deps.tree.covers(size)
  if (!covered) {
    throw new HubError(
      'TRM_AUDIT_TREE_SIZE',
      `The latest checkpoint covers ${latest} leaves; ask for a size up to that.`,
    )
  }
}

/**
 * RFC 9162 §2.1.3 inclusion proof of leaf `index` in the tree of `size` leaves. An agency gets proofs
 * only for leaves it may see in GET /v1/audit (404 otherwise, as for any invisible thing).
 */
export async function inclusion(
  deps: TreeDeps,
  caller: { id: string; operator: boolean },
  index: number,
  size: number,
) {
  await checkSize(deps, size)
  if (index >= size) throw new HubError('TRM_BAD_REQUEST', 'index must be below size.')
  // Leaves have no gaps: an operator may see every index below a checkpoint's size.
  if (!caller.operator && !(await findLeaf(deps.db, index, caller.id))) {
    throw new HubError('TRM_NOT_FOUND', 'No audit event you may see has this index.')
  }
  return { index, size, hashes: (await deps.tree.inclusionProof(index, size)).map(base64) }
}

/** RFC 9162 §2.1.4 consistency proof between two tree sizes (hashes only: anyone may ask). */
export async function consistency(deps: TreeDeps, from: number, to: number) {
  await checkSize(deps, to)
  if (from > to) throw new HubError('TRM_BAD_REQUEST', 'from must not be above to.')
  return { from, to, hashes: (await deps.tree.consistencyProof(from, to)).map(base64) }
}

/**
 * A C2SP hash tile; undefined when the latest checkpoint's tree does not have it (yet). Both never
 * change: a full tile is its 256 hashes, a partial tile `.p/W` the first W hashes of its tile.
 */
export async function hashTile(deps: TreeDeps, path: string): Promise<Uint8Array | undefined> {
  let tile: { level: number; index: number; width: number }
  try {
    tile = parseTilePath(`tile/${path}`)
  } catch (error) {
    if (error instanceof TlogFormatError) return undefined
    throw error
  }
  const { latest } = await deps.tree.covers(Number.POSITIVE_INFINITY)
  const available = entriesAt(latest, tile.level) - tile.index * TILE_WIDTH
  if (latest === 0 || available < tile.width) return undefined
  // Read as the tile of the smallest tree that has it: a partial tile is kept under its width.
  const size = (tile.index * TILE_WIDTH + tile.width) * TILE_WIDTH ** tile.level
  return deps.tree.entries(size, tile.level, tile.index)
}

/**
 * Stores the cosignatures of registered witnesses found in `note` (the hub's checkpoint text and
 * signature lines); refused with 422 unless the text is one the hub signed and at least one line
 * verifies with a registered witness key.
 */
export async function addCosignatures(
  db: Kysely<Database>,
  witnesses: readonly Witness[],
  note: string,
): Promise<CheckpointView> {
  const refuse = (detail: string) => new HubError('TRM_COSIGNATURE_REFUSED', detail)
  const split = note.indexOf('\n\n')
  if (split < 0) throw refuse('Not a signed note: no blank line after the checkpoint text.')
  const text = note.slice(0, split + 1)
  const lines = note
    .slice(split + 2)
    .split('\n')
    .filter((l) => SIGNATURE_LINE.test(l))
  let size: number
  try {
    size = parseCheckpoint(text).size
  } catch {
    throw refuse('The note does not hold a checkpoint.')
  }
  const row = await tree.findTreeCheckpoint(db, size)
  if (!row || parseNote(row.note).text !== text) {
    throw refuse('The hub did not sign this checkpoint text.')
  }
  let stored = 0
  for (const line of lines) {
    const name = line.slice(2, line.indexOf(' ', 2))
    for (const witness of witnesses.filter((w) => w.name === name)) {
      const verified = verifyCosignature(text, line, witness.name, witness.publicKey)
      if (!verified) continue
      await tree.insertCosignature(db, { size, witness: witness.name, line, time: verified.time })
      stored += 1
    }
  }
  if (stored === 0) throw refuse('No line is a cosignature by a registered witness over this checkpoint.')
  return toView(db, row)
}
