import { promises as fs } from 'node:fs'
import path from 'node:path'
import { FileMigrationProvider, type Kysely, type MigrationProvider, sql } from 'kysely'
import t, { type Test } from 'tap'
import { createDb } from '../../src/db/create-db.js'
import { HubMigrator, MIGRATION_ATTEMPTS, MIGRATIONS_DIR } from '../../src/db/migrate.js'
import type { Database } from '../../src/db/types.js'
import { testConfig, uniqueName } from '../helpers/env.js'

/**
 * Migrations read from `migrations/`, but the first `failures` reads first look up, by name, a schema
 * that does not exist: a real Postgres error (3F000) at the point of the run where Kysely's own look
 * at every schema fails when another schema is dropped at that moment.
 */
function vanishingProvider(db: Kysely<Database>, failures: number, gone: 'schema' | 'column' = 'schema') {
  const files = new FileMigrationProvider({ fs, path, migrationFolder: MIGRATIONS_DIR })
  const provider = {
    reads: 0,
    async getMigrations() {
      provider.reads++
      if (provider.reads <= failures) {
        await (gone === 'schema'
          ? sql`select has_schema_privilege(${uniqueName('t_gone')}, 'USAGE')`
          : sql`select has_column_privilege('pg_catalog.pg_class', ${uniqueName('gone')}, 'SELECT')`
        ).execute(db)
      }
      return files.getMigrations()
    },
  } satisfies MigrationProvider & { reads: number }
  return provider
}

async function freshSchema(t: Test) {
  const config = await testConfig()
  const schema = config.databaseSchema!
  const { db } = createDb(config, 'trm-test-migrator-retry')
  t.teardown(async () => {
    await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(db)
    await db.destroy()
  })
  await sql`create schema ${sql.id(schema)}`.execute(db)
  return { db, schema }
}

t.test('a run that failed on a vanished name before migrating is run again, and migrates', async (t) => {
  const { db, schema } = await freshSchema(t)
  const provider = vanishingProvider(db, 2)
  const migrator = new HubMigrator({ db, provider, migrationTableSchema: schema })

  const result = await migrator.migrateToLatest()
  t.equal(result.error, undefined, 'no error reaches the caller')
  t.equal(provider.reads, 3, 'two failed runs, then the one that migrated')
  const files = (await fs.readdir(MIGRATIONS_DIR)).filter((name) => /\.(ts|js)$/.test(name))
  t.equal(result.results?.filter((r) => r.status === 'Success').length, files.length, 'every migration ran')
  const applied = await sql<{
    n: number
  }>`select count(*)::int as n from ${sql.id(schema, 'kysely_migration')}`.execute(db)
  t.equal(applied.rows[0]!.n, files.length, 'each is recorded once')
})

// A table another schema's migration replaced (dropped, then renamed into place) loses a column
// between Kysely's reads of the catalog: 42703, seen in CI.
t.test('a run that failed on a vanished column before migrating is run again, and migrates', async (t) => {
  const { db, schema } = await freshSchema(t)
  const provider = vanishingProvider(db, 1, 'column')
  const migrator = new HubMigrator({ db, provider, migrationTableSchema: schema })

  const result = await migrator.migrateToLatest()
  t.equal(result.error, undefined, 'no error reaches the caller')
  t.equal(provider.reads, 2, 'one failed run, then the one that migrated')
})

t.test('a name that stays gone is returned as the error after the last attempt', async (t) => {
  const { db, schema } = await freshSchema(t)
  const provider = vanishingProvider(db, Number.POSITIVE_INFINITY)
  const migrator = new HubMigrator({ db, provider, migrationTableSchema: schema })

  const result = await migrator.migrateToLatest()
  t.equal((result.error as { code?: string } | undefined)?.code, '3F000', "Postgres's error is returned")
  t.equal(provider.reads, MIGRATION_ATTEMPTS, 'tried as many times as allowed, no more')
  const applied = await sql<{
    n: number
  }>`select count(*)::int as n from ${sql.id(schema, 'kysely_migration')}`.execute(db)
  t.equal(applied.rows[0]!.n, 0, 'nothing was migrated')
})

t.test('a migration that fails is not run again: its failure is returned at once', async (t) => {
  const { db, schema } = await freshSchema(t)
  let runs = 0
  const provider: MigrationProvider = {
    getMigrations: async () => ({
      '0001-fictional': {
        up: async (trx) => {
          runs++
          await sql`select * from table_that_does_not_exist`.execute(trx)
        },
      },
    }),
  }
  const migrator = new HubMigrator({ db, provider, migrationTableSchema: schema })

  const result = await migrator.migrateToLatest()
  t.equal((result.error as { code?: string } | undefined)?.code, '42P01', "the migration's error is returned")
  t.equal(runs, 1, 'the migration ran once')
  t.same(
    result.results?.map((r) => r.status),
    ['Error'],
    'its result says so',
  )
})
