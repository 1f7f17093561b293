import type { FastifyInstance } from 'fastify'
import { sql } from 'kysely'

/**
 * Audit events a refused request writes on purpose: the token endpoint records each refusal
 * (`token.refused`), the erasure endpoint each refused erasure (`referral.erasure_refused`).
 * Nothing else a 4xx answer leaves behind belongs in the database.
 */
const REFUSAL_AUDIT_ACTIONS = ['token.refused', 'referral.erasure_refused']

/**
 * A cheap fingerprint of everything the app's schema holds: per table, the row count and the MD5 of
 * its rows as text in a fixed order. Equal fingerprints mean nothing was written, changed or deleted
 * (audit events of refusals aside, see REFUSAL_AUDIT_ACTIONS; Redis is not looked at).
 */
export async function databaseFingerprint(app: FastifyInstance): Promise<Record<string, string>> {
  const schema = app.config.databaseSchema!
  const tables = await sql<{ name: string }>`
    select table_name as name from information_schema.tables
    where table_schema = ${schema} and table_type = 'BASE TABLE' and table_name not like 'kysely_%'
    order by table_name`.execute(app.db)
  const fingerprint: Record<string, string> = {}
  for (const { name } of tables.rows) {
    const excluded =
      name === 'audit_events' ? sql`where t.action not in (${sql.join(REFUSAL_AUDIT_ACTIONS)})` : sql``
    const row = await sql<{ n: string; digest: string | null }>`
      select count(*) as n, md5(string_agg(t::text, E'\\n' order by t::text)) as digest
      from ${sql.table(`${schema}.${name}`)} t ${excluded}`.execute(app.db)
    fingerprint[name] = `${row.rows[0]!.n}:${row.rows[0]!.digest ?? '-'}`
  }
  return fingerprint
}
