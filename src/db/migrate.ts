import { promises as fs } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { FileMigrationProvider, type Kysely, type MigrationResultSet, Migrator, sql } from 'kysely'

/** `migrations/` sits two levels above this file both in `src/db` and in `dist/src/db`. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url))

/** Applies every pending migration in `migrations/` to the schema the connection's search_path names. */
export async function migrateToLatest(db: Kysely<any>, schema?: string): Promise<MigrationResultSet> {
  if (schema) await sql`create schema if not exists ${sql.id(schema)}`.execute(db)
  // Always name the schema of the migration tables: without it Kysely finds them in any schema of the
  // database (another deployment's, a test's) and then fails to use them.
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db)
  const migrator = new Migrator({
    db,
    provider: new FileMigrationProvider({ fs, path, migrationFolder: MIGRATIONS_DIR }),
    migrationTableSchema: schema ?? rows[0]!.schema,
  })
  return migrator.migrateToLatest()
}
