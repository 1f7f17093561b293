import { type Kysely, sql } from 'kysely'
import type pg from 'pg'
import type { Database } from './types.js'

// Statements about database sessions rather than the hub's tables: NOTIFY, LISTEN, advisory locks.

/** Sends NOTIFYs, one per (channel, payload), in one statement outside any transaction. */
export async function sendNotifications(
  db: Kysely<Database>,
  notifications: readonly { channel: string; payload: string }[],
): Promise<void> {
  const channels = notifications.map((n) => n.channel)
  const payloads = notifications.map((n) => n.payload)
  await sql`select pg_notify(c, p) from unnest(${channels}::text[], ${payloads}::text[]) as n(c, p)`.execute(
    db,
  )
}

/**
 * Tries to take a session advisory lock named `name` followed by the session's schema (schemas
 * sharing a database each have their own); true when this session holds it now.
 */
export async function tryAdvisoryLock(client: pg.ClientBase, name: string): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>(
    'select pg_try_advisory_lock(hashtext($1 || current_schema())) as ok',
    [name],
  )
  return rows[0]?.ok === true
}

/** Starts listening on a channel (its notifications arrive as the client's `notification` events). */
export async function listen(client: pg.ClientBase, channel: string): Promise<void> {
  await client.query(`listen ${client.escapeIdentifier(channel)}`)
}

/** Answers once Postgres runs a trivial statement; throws why it could not. */
export async function checkConnection(db: Kysely<Database>): Promise<void> {
  await sql`select 1`.execute(db)
}

/** Creates the schema when it does not exist yet (migrations run in it). */
export async function createSchema(db: Kysely<Database>, schema: string): Promise<void> {
  await sql`create schema if not exists ${sql.id(schema)}`.execute(db)
}

/** The schema the session's search_path names first. */
export async function currentSchema(db: Kysely<Database>): Promise<string> {
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db)
  return rows[0]!.schema
}
