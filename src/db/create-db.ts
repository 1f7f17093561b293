import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import type { Config } from '../config.js'
import type { Database } from './types.js'

const INT8_OID = 20

/**
 * Postgres `bigint` values come back as strings by default. The hub's bigints (sequence numbers,
 * cursors, counts) stay far below 2^53, so they are parsed to numbers, and a value that would lose
 * precision fails loudly instead of being rounded.
 */
export function parseInt8(text: string): number {
  const value = Number(text)
  if (!Number.isSafeInteger(value)) throw new RangeError(`bigint ${text} exceeds the safe integer range`)
  return value
}

const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? parseInt8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
}

export type DbConfig = Pick<Config, 'databaseUrl' | 'databaseSchema' | 'databasePoolMax'>

export function createPool(config: DbConfig, applicationName = 'trm-hub'): pg.Pool {
  return new pg.Pool({
    connectionString: config.databaseUrl,
    max: config.databasePoolMax,
    application_name: applicationName,
    types,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    ...(config.databaseSchema ? { options: `-c search_path=${config.databaseSchema}` } : {}),
  })
}

export function createDb(
  config: DbConfig,
  applicationName?: string,
): { db: Kysely<Database>; pool: pg.Pool } {
  const pool = createPool(config, applicationName)
  // A broken idle connection must not crash the process; the pool replaces it.
  pool.on('error', () => {})
  return { db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), pool }
}
