import { createHash } from 'node:crypto'
import {
  type CompiledQuery,
  Kysely,
  PostgresDialect,
  type PostgresPool,
  type PostgresPoolClient,
  type QueryResult,
} from 'kysely'
import pg from 'pg'
import type { Config } from '../config.js'
import { isConnectionLost } from '../lib/pg-errors.js'
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

/**
 * A pool whose every client, idle or checked out, has an `error` listener. pg-pool listens on idle
 * clients only and removes its listener while a client is checked out; a connection the server
 * ends then (a restart, `pg_terminate_backend`, a network cut) would emit `error` with nobody
 * listening, which ends the process. With a listener, only the statement that used the connection
 * fails (it rejects with the error), and the pool replaces the connection.
 */
export function createPool(config: DbConfig, applicationName = 'trm-hub'): pg.Pool {
  const pool = new pg.Pool({
    connectionString: config.databaseUrl,
    max: config.databasePoolMax,
    application_name: applicationName,
    types,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    options: [
      // The hub's statements are short and run thousands of times a second; a JIT compilation,
      // which Postgres starts by a plan's estimated cost, takes milliseconds and never pays back.
      '-c jit=off',
      ...(config.databaseSchema ? [`-c search_path=${config.databaseSchema}`] : []),
    ].join(' '),
  })
  pool.on('connect', (client) => client.on('error', ignoreConnectionError))
  // An idle connection that breaks: the pool drops it and opens another when one is needed.
  pool.on('error', ignoreConnectionError)
  return pool
}

/** The statement that used a broken connection fails with the error itself; nothing else is to be done. */
function ignoreConnectionError() {}

/**
 * Marks a statement to be prepared once per connection (a named statement): Postgres then skips
 * parsing and planning it on later executions, which is most of its cost for the hub's largest,
 * hottest statements (a referral's one-statement write). Only for fixed statement texts that name
 * their columns: a prepared `select *` fails once a migration changes the table.
 */
const PREPARED = '/* trm:prepared */ '

/** Runs a compiled query as a prepared statement (see PREPARED), on db's connection or transaction. */
export function executePrepared<R>(db: Kysely<Database>, query: CompiledQuery<R>): Promise<QueryResult<R>> {
  return db.executeQuery<R>(isPrepared(query) ? query : prepared(query))
}

/** The query marked PREPARED, for a caller that keeps it: the same text object is looked up faster. */
export function prepared<R>(query: CompiledQuery<R>): CompiledQuery<R> {
  return isPrepared(query) ? query : { ...query, sql: PREPARED + query.sql }
}

function isPrepared(query: CompiledQuery<unknown>) {
  return query.sql.startsWith(PREPARED)
}

const statementNames = new Map<string, string>()

/** A prepared statement's name, from its text (the same text has the same name on every connection). */
function statementName(text: string): string {
  let name = statementNames.get(text)
  if (name === undefined) {
    name = `trm_${createHash('sha256').update(text).digest('base64url').slice(0, 24)}`
    // Statement texts are fixed in code, so this stays small; the bound guards against a mistake.
    if (statementNames.size < 1000) statementNames.set(text, name)
  }
  return name
}

/** A connection prepares a statement again after this many runs of it, then after twice as many, … */
export const REPLAN_FIRST_AT = 32

/**
 * Which preparation of a statement a connection uses for its `runs`-th run (1-based): 0 before
 * {@link REPLAN_FIRST_AT}, then one more each time the runs double.
 *
 * A prepared statement keeps the plan Postgres made for it (a generic plan, from its sixth run on),
 * and Postgres makes a new one only when the tables' statistics change. A connection opened while
 * the tables were small (a new database, or a schema only just migrated) plans a lookup by key as a
 * scan of the whole table, since that is cheapest while it holds a few rows; where nothing analyzes
 * the tables as they grow (autovacuum off), that plan would stay, and cost more with every row.
 * Preparing the statement again as its runs double lets each connection plan it for the tables as
 * they are (Postgres sizes a table by its pages even without statistics), at a cost that falls to
 * nothing: a connection that ran a statement a million times has planned it 16 times.
 */
export function planGeneration(runs: number): number {
  return runs < REPLAN_FIRST_AT ? 0 : Math.floor(Math.log2(runs / REPLAN_FIRST_AT)) + 1
}

/**
 * The pool as Kysely sees it: statements marked PREPARED run as named statements (prepared again
 * as their runs double: see planGeneration), and a connection whose statement failed because the
 * connection was lost goes back to the pool as broken, so the pool closes it instead of lending it
 * to the next statement (it may still look usable for a moment: the server's error arrives before
 * the socket closes).
 */
function preparingPool(pool: pg.Pool): PostgresPool {
  const clients = new WeakMap<pg.PoolClient, ReturnType<typeof wrap>>()
  const wrap = (client: pg.PoolClient) => {
    let lost: Error | undefined
    const run = (query: Promise<unknown>) =>
      query.catch((error: unknown) => {
        if (isConnectionLost(error)) lost = error as Error
        throw error
      })
    // By statement: how often this connection ran it, and the names it prepared that still exist.
    const runs = new Map<string, number>()
    const preparedNames = new Set<string>()
    const runPrepared = (text: string, values: unknown[]) => {
      const base = statementName(text)
      const count = (runs.get(base) ?? 0) + 1
      runs.set(base, count)
      const generation = planGeneration(count)
      const name = generation === 0 ? base : `${base}_${generation}`
      if (!preparedNames.has(name) && generation > 0) {
        // The plan of the previous preparation is for smaller tables: free it. Only a name whose
        // statement has run here is deallocated, so the command cannot fail on its own (and fail
        // the transaction it may run in); it goes before the statement, on the same connection.
        const previous = generation === 1 ? base : `${base}_${generation - 1}`
        if (preparedNames.delete(previous)) {
          void client.query(`deallocate ${client.escapeIdentifier(previous)}`).catch(() => {})
        }
      }
      return run(
        client.query({ name, text, values }).then((result) => {
          preparedNames.add(name)
          return result
        }),
      )
    }
    return {
      query(text: unknown, values?: readonly unknown[]) {
        if (typeof text === 'string' && text.startsWith(PREPARED)) {
          return runPrepared(text, values as unknown[])
        }
        return run(client.query(text as string, values as unknown[]))
      },
      // A lost connection is destroyed by the pool, so this wrapper is never lent again.
      release: () => client.release(lost),
    }
  }
  return {
    async connect() {
      const client = await pool.connect()
      let wrapped = clients.get(client)
      if (!wrapped) {
        wrapped = wrap(client)
        clients.set(client, wrapped)
      }
      // pg's client answers Kysely's query calls; its overloads (cursors) are not used here.
      return wrapped as unknown as PostgresPoolClient
    },
    end: () => pool.end(),
  }
}

export function createDb(
  config: DbConfig,
  applicationName?: string,
): { db: Kysely<Database>; pool: pg.Pool } {
  const pool = createPool(config, applicationName)
  return { db: new Kysely<Database>({ dialect: new PostgresDialect({ pool: preparingPool(pool) }) }), pool }
}
