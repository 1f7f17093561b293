import { loadDatabaseConfig } from '../config.js'
import { createDb } from '../db/create-db.js'
import { migrateToLatest } from '../db/migrate.js'
import { EXIT } from './usage.js'

export async function migrateCommand(): Promise<number> {
  const config = loadDatabaseConfig()
  const { db } = createDb(config, 'trm-migrate')
  try {
    const { error, results } = await migrateToLatest(db, config.databaseSchema)
    for (const result of results ?? []) {
      process.stdout.write(
        `${result.status === 'Success' ? 'applied' : result.status}: ${result.migrationName}\n`,
      )
    }
    if (error) {
      process.stderr.write(`trm migrate: ${error instanceof Error ? error.message : String(error)}\n`)
      return EXIT.failedCheck
    }
    if ((results ?? []).length === 0) process.stdout.write('database is up to date\n')
    return EXIT.ok
  } finally {
    await db.destroy()
  }
}
