import { promises as fs } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  FileMigrationProvider,
  type Kysely,
  type MigrationResultSet,
  Migrator,
  type NO_MIGRATIONS,
} from 'kysely'
import { createSchema, currentSchema } from './session.repository.js'

/** `migrations/` sits two levels above this file both in `src/db` and in `dist/src/db`. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url))

/** Applies every pending migration in `migrations/` to the schema the connection's search_path names. */
export async function migrateToLatest(db: Kysely<any>, schema?: string): Promise<MigrationResultSet> {
  if (schema) await createSchema(db, schema)
  // Always name the schema of the migration tables: without it Kysely finds them in any schema of the
  // database (another deployment's, a test's) and then fails to use them.
  const migrator = new HubMigrator({
    db,
    provider: new FileMigrationProvider({ fs, path, migrationFolder: MIGRATIONS_DIR }),
    migrationTableSchema: schema ?? (await currentSchema(db)),
  })
  return migrator.migrateToLatest()
}

/** Codes of a name lookup that found nothing: a schema (3F000), a table (42P01) or a column (42703). */
const VANISHED = new Set(['3F000', '42P01', '42703'])
export const MIGRATION_ATTEMPTS = 5

/**
 * Kysely's Migrator, run again when it failed before migrating anything because a name it looked up
 * was gone. Before it migrates, Kysely lists the tables of every schema of the database and checks its
 * rights on each by name; a schema, table or column dropped meanwhile (another deployment's, a test's,
 * a migration's that replaces a table) fails that read,
 * though nothing of the migrated schema changed. Such a run has no results (no migration was tried)
 * and changed nothing, so it is run again, up to five times; any other failure is returned as it is.
 */
export class HubMigrator extends Migrator {
  override migrateToLatest(): Promise<MigrationResultSet> {
    return again(() => super.migrateToLatest())
  }

  override migrateTo(target: string | typeof NO_MIGRATIONS): Promise<MigrationResultSet> {
    return again(() => super.migrateTo(target))
  }

  override migrateUp(): Promise<MigrationResultSet> {
    return again(() => super.migrateUp())
  }

  override migrateDown(): Promise<MigrationResultSet> {
    return again(() => super.migrateDown())
  }
}

async function again(run: () => Promise<MigrationResultSet>): Promise<MigrationResultSet> {
  for (let attempt = 1; ; attempt++) {
    const result = await run()
    if (attempt === MIGRATION_ATTEMPTS || !vanishedBeforeMigrating(result)) return result
  }
}

const vanishedBeforeMigrating = ({ error, results }: MigrationResultSet) =>
  results === undefined && VANISHED.has((error as { code?: unknown } | undefined)?.code as string)
