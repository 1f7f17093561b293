import type { FastifyInstance } from 'fastify'
import { sql } from 'kysely'

/** Every table of the test schema whose rows, as text, contain the needle: a whole-database search. */
export async function tablesContaining(app: FastifyInstance, needle: string): Promise<string[]> {
  const schema = app.config.databaseSchema!
  const { rows } = await sql<{ table_name: string }>`
    select table_name from information_schema.tables
    where table_schema = ${schema} and table_type = 'BASE TABLE'`.execute(app.db)
  const found: string[] = []
  for (const { table_name } of rows) {
    const { rows: hits } = await sql<{ n: number }>`
      select count(*)::int as n from ${sql.table(`${schema}.${table_name}`)} t
      where strpos(t::text, ${needle}) > 0`.execute(app.db)
    if ((hits[0]?.n ?? 0) > 0) found.push(table_name)
  }
  return found
}

/**
 * Runs a statement in its own transaction, as the application role `trm_app` when asked, and
 * returns the error it raised (SQLSTATE and message), or undefined when Postgres allowed it.
 */
export async function statementFailure(
  app: FastifyInstance,
  statement: string,
  role?: 'trm_app',
): Promise<{ code: string | undefined; message: string } | undefined> {
  try {
    await app.db.transaction().execute(async (trx) => {
      if (role) await sql`set local role trm_app`.execute(trx)
      await sql.raw(statement).execute(trx)
    })
  } catch (error) {
    return { code: (error as { code?: string }).code, message: (error as Error).message }
  }
  return undefined
}
