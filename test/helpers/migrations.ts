import { promises as fs } from 'node:fs'
import path from 'node:path'
import { FileMigrationProvider, sql } from 'kysely'
import type { Test } from 'tap'
import { createDb } from '../../src/db/create-db.js'
import { HubMigrator, MIGRATIONS_DIR } from '../../src/db/migrate.js'
import { testConfig } from './env.js'

/**
 * A schema of the test's own, migrated up to `before` (inclusive) and no further, as a database of
 * an earlier release would be; dropped at the test's end. The test writes what that release wrote,
 * then runs `migrator.migrateTo(...)` and checks what the migration under test made of it.
 */
export async function migratedUpTo(t: Test, before: string, applicationName = 'trm-test-migration') {
  const config = await testConfig()
  const schema = config.databaseSchema!
  const { db } = createDb(config, applicationName)
  t.teardown(async () => {
    await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(db)
    await db.destroy()
  })
  await sql`create schema ${sql.id(schema)}`.execute(db)
  const migrator = new HubMigrator({
    db,
    provider: new FileMigrationProvider({ fs, path, migrationFolder: MIGRATIONS_DIR }),
    migrationTableSchema: schema,
  })
  const to = await migrator.migrateTo(before)
  if (to.error) throw to.error
  return { config, schema, db, migrator }
}
