import { promises as fs } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { FileMigrationProvider, type Kysely, type MigrationResultSet, Migrator } from 'kysely'
import { createSchema, currentSchema } from './session.repository.js'

/** `migrations/` sits two levels above this file both in `src/db` and in `dist/src/db`. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url))

/** Applies every pending migration in `migrations/` to the schema the connection's search_path names. */
export async function migrateToLatest(db: Kysely<any>, schema?: string): Promise<MigrationResultSet> {
  if (schema) await createSchema(db, schema)
  // Always name the schema of the migration tables: without it Kysely finds them in any schema of the
  // database (another deployment's, a test's) and then fails to use them.
  const migrator = new Migrator({
    db,
    provider: new FileMigrationProvider({ fs, path, migrationFolder: MIGRATIONS_DIR }),
    migrationTableSchema: schema ?? (await currentSchema(db)),
  })
  return migrator.migrateToLatest()
}
