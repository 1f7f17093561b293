import type { Kysely } from 'kysely'
import { sql } from 'kysely'
import type { Database } from '../../src/db/types.js'

/**
 * What a reader of the data directory would find: the bytes of every table, index, TOAST table and
 * TOAST index of the schema (and of pg_statistic, where ANALYZE copies sampled values), read from
 * their files with pg_read_binary_file (superuser). Run CHECKPOINT first: pages changed since the
 * last one may exist only in shared buffers. Only relations with storage have a file; files past
 * 1 GB continue in `.1`, `.2`… segments.
 */
export async function relationFiles(db: Kysely<Database>, schema: string): Promise<Map<string, Buffer>> {
  // Each relation with the table it belongs to: its own name, or its table's for TOAST relations.
  const { rows } = await sql<{ name: string; path: string }>`
    with tables as (
      select c.oid, c.relname::text as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = ${schema}
      union all select 'pg_catalog.pg_statistic'::regclass, 'pg_statistic'
    ),
    relations (oid, name) as (
      select oid, name from tables
      union all select c.reltoastrelid, t.name || ' (TOAST)' from tables t join pg_class c on c.oid = t.oid
        where c.reltoastrelid <> 0
      union all select i.indexrelid, t.name || ' (TOAST index)' from tables t join pg_class c on c.oid = t.oid
        join pg_index i on i.indrelid = c.reltoastrelid
    )
    select name, pg_relation_filepath(oid) as path from relations
    where pg_relation_filepath(oid) is not null
    order by 1`.execute(db)
  const files = new Map<string, Buffer>()
  for (const { name, path } of rows) {
    const segments: Buffer[] = []
    for (let segment = 0; ; segment++) {
      const file = segment === 0 ? path : `${path}.${segment}`
      // Without a length, Postgres 15 has no missing_ok; a missing file has no size, so null.
      const { rows: read } = await sql<{ bytes: Buffer | null }>`
        select pg_read_binary_file(${file}, 0, (pg_stat_file(${file}, true)).size, true) as bytes`.execute(db)
      if (!read[0]?.bytes) break
      segments.push(read[0].bytes)
    }
    files.set(name, Buffer.concat(segments))
  }
  return files
}

/**
 * Pieces of a secret string to look for on disk. A value stored out of line is cut into TOAST chunks
 * of about 2 kB, so a long string is never found whole: it is looked for as pieces, and a piece
 * that a chunk boundary cuts is covered by the others. Pieces that occur in `common` (other strings
 * the test wrote, such as the shared JWS header) would be found for another reason and are left out;
 * a string that contains the secret whole (the JWS around a JWE) is no other reason.
 */
export function needlesOf(secret: string, common: readonly string[], size = 32): string[] {
  const pieces: string[] = []
  for (let at = 0; at + size <= secret.length; at += size) pieces.push(secret.slice(at, at + size))
  if (secret.length % size !== 0 && secret.length >= size) pieces.push(secret.slice(-size))
  if (secret.length < size) pieces.push(secret)
  return pieces.filter((piece) => !common.some((other) => !other.includes(secret) && other.includes(piece)))
}

/** The relations (file names) in which any needle of the secret occurs; empty when none. */
export function whereFound(files: Map<string, Buffer>, needles: readonly string[]): string[] {
  const found: string[] = []
  for (const [name, bytes] of files) {
    if (needles.some((needle) => bytes.includes(needle, 0, 'latin1'))) found.push(name)
  }
  return found
}

/**
 * How a string signed inside a JWS lies on disk: base64url-encoded within the JWS payload. Returns
 * the part of the payload's encoding that only the string's bytes determine (the groups of three
 * bytes that lie wholly inside it), a substring of the stored JWS.
 */
export function encodedWithin(jws: string, inner: string): string {
  const part = jws.split('.')[1]!
  const payload = Buffer.from(part, 'base64url')
  const at = payload.indexOf(inner, 0, 'utf8')
  if (at === -1) throw new Error('the string is not in the JWS payload')
  const end = at + Buffer.byteLength(inner, 'utf8')
  return part.slice(Math.ceil(at / 3) * 4, Math.floor(end / 3) * 4)
}
