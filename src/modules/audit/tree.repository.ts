import { type Kysely, sql } from 'kysely'
import type { Database } from '../../db/types.js'

/** The number of leaves: one more than the highest leaf index (leaves have no gaps). */
export async function countLeaves(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('audit_leaves')
    .select((eb) => eb.fn.max('index').as('last'))
    .executeTakeFirst()
  return row?.last === null || row?.last === undefined ? 0 : Number(row.last) + 1
}

/**
 * Where the sealer starts, in one round trip: the number of leaves, the size of the latest checkpoint,
 * the horizon of the last batch that sealed all it saw, and now the oldest transaction still running
 * (xid8 as text: every older one has ended, so a listing after this statement sees its events).
 */
export async function sealState(
  db: Kysely<Database>,
): Promise<{ size: number; signed: number; lastHorizon: string | undefined; horizon: string }> {
  const { rows } = await sql<{
    last: number | null
    signed: number | null
    last_horizon: string | null
    xmin: string
  }>`
    select (select max(index) from audit_leaves) as last,
      (select size from audit_tree_checkpoints order by size desc limit 1) as signed,
      (select horizon::text from audit_tree_checkpoints where horizon is not null
        order by size desc limit 1) as last_horizon,
      pg_snapshot_xmin(pg_current_snapshot())::text as xmin`.execute(db)
  const row = rows[0]!
  return {
    size: row.last === null ? 0 : Number(row.last) + 1,
    signed: Number(row.signed ?? 0),
    lastHorizon: row.last_horizon ?? undefined,
    horizon: row.xmin,
  }
}

/** Leaf hashes of [start, end) by index. */
export async function leafHashes(db: Kysely<Database>, start: number, end: number): Promise<Uint8Array[]> {
  if (end <= start) return []
  const rows = await db
    .selectFrom('audit_leaves')
    .select(['index', 'hash'])
    .where('index', '>=', start)
    .where('index', '<', end)
    .orderBy('index')
    .execute()
  return rows.map((r) => r.hash)
}

export async function insertLeaves(
  db: Kysely<Database>,
  leaves: readonly { index: number; eventId: number; hash: Uint8Array }[],
): Promise<void> {
  if (leaves.length === 0) return
  await db
    .insertInto('audit_leaves')
    .values(leaves.map((l) => ({ index: l.index, event_id: l.eventId, hash: l.hash })))
    .execute()
}

export async function findTile(db: Kysely<Database>, level: number, index: number) {
  return db
    .selectFrom('audit_tiles')
    .select(['level', 'index', 'hashes', 'root'])
    .where('level', '=', level)
    .where('index', '=', index)
    .executeTakeFirst()
}

/** The roots of complete tiles [start, end) of one level: entries of the tile one level up. */
export async function tileRoots(db: Kysely<Database>, level: number, start: number, end: number) {
  if (end <= start) return []
  const rows = await db
    .selectFrom('audit_tiles')
    .select(['index', 'root'])
    .where('level', '=', level)
    .where('index', '>=', start)
    .where('index', '<', end)
    .orderBy('index')
    .execute()
  return rows.map((r) => r.root)
}

export async function insertTiles(
  db: Kysely<Database>,
  tiles: readonly { level: number; index: number; hashes: Uint8Array; root: Uint8Array }[],
): Promise<void> {
  if (tiles.length === 0) return
  await db
    .insertInto('audit_tiles')
    .values([...tiles])
    .execute()
}

export function findLatestTreeCheckpoint(db: Kysely<Database>) {
  return db
    .selectFrom('audit_tree_checkpoints')
    .select(['size', 'root', 'note', 'at'])
    .orderBy('size', 'desc')
    .limit(1)
    .executeTakeFirst()
}

export function findTreeCheckpoint(db: Kysely<Database>, size: number) {
  return db
    .selectFrom('audit_tree_checkpoints')
    .select(['size', 'root', 'note', 'at'])
    .where('size', '=', size)
    .executeTakeFirst()
}

export function listTreeCheckpoints(db: Kysely<Database>) {
  return db
    .selectFrom('audit_tree_checkpoints')
    .select(['size', 'root', 'note', 'at'])
    .orderBy('size')
    .execute()
}

export async function insertTreeCheckpoint(
  db: Kysely<Database>,
  checkpoint: { size: number; root: Uint8Array; note: string; at: Date; horizon: string | null },
): Promise<void> {
  await db.insertInto('audit_tree_checkpoints').values(checkpoint).execute()
}

export function listCosignatures(db: Kysely<Database>, size: number) {
  return db
    .selectFrom('audit_cosignatures')
    .select(['witness', 'line', 'time'])
    .where('size', '=', size)
    .orderBy('witness')
    .execute()
}

/** Stores a cosignature; a witness's later line for the same checkpoint is ignored (first wins). */
export async function insertCosignature(
  db: Kysely<Database>,
  row: { size: number; witness: string; line: string; time: number },
): Promise<void> {
  await db
    .insertInto('audit_cosignatures')
    .values(row)
    .onConflict((oc) => oc.columns(['size', 'witness']).doNothing())
    .execute()
}
