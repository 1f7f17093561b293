import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { type Kysely, sql } from 'kysely'
import { buildApp } from '../../src/app.js'
import type { Config } from '../../src/config.js'
import { createDb } from '../../src/db/create-db.js'
import { migrateToLatest } from '../../src/db/migrate.js'
import type { Database } from '../../src/db/types.js'
import { createWorkerRedis } from '../../src/lib/redis.js'
import { testConfig } from './env.js'

type Tap = { teardown: (fn: () => unknown) => void }

/** Everything the app wrote to its log, for assertions about what must never be logged. */
export class LogCapture extends Writable {
  readonly lines: string[] = []
  override _write(chunk: Buffer, _encoding: string, done: () => void) {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean))
    done()
  }
  get text() {
    return this.lines.join('\n')
  }
}

/** A migrated, private Postgres schema and Redis key prefix for one test, dropped afterwards. */
export async function provisionTestServices(t: Tap, config: Config): Promise<void> {
  const { db } = createDb(config, 'trm-test-setup')
  const result = await migrateRetryingRaces(db, config.databaseSchema!)
  if (result.error) throw result.error
  t.teardown(async () => {
    await sql`drop schema if exists ${sql.id(config.databaseSchema!)} cascade`.execute(db)
    await db.destroy()
    await deleteRedisPrefix(config)
  })
}

/**
 * Kysely's migrator looks at the columns of every table in every schema of the database, naming each
 * (pg_get_serial_sequence); when another test drops its schema or changes one of its tables at that
 * moment, the look fails before anything was migrated: invalid_schema_name (3F000), undefined_table
 * (42P01) or undefined_column (42703, seen on a busy machine). Those are the failures worth another try.
 */
const CATALOG_RACES = new Set(['3F000', '42P01', '42703'])

async function migrateRetryingRaces(db: Kysely<Database>, schema: string) {
  for (let attempt = 1; ; attempt += 1) {
    const result = await migrateToLatest(db, schema)
    const code = (result.error as { code?: string } | undefined)?.code
    if (!result.error || attempt === 5 || !CATALOG_RACES.has(code ?? '')) return result
  }
}

/** Deletes every Redis key under the config's queue prefix (a test's own, so nothing else is touched). */
export async function deleteRedisPrefix(config: Pick<Config, 'redisUrl' | 'queuePrefix'>) {
  // A connection that queues commands until it is connected (the fail-fast one would drop them).
  const redis = createWorkerRedis(config.redisUrl, { maxRetriesPerRequest: 1 })
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${config.queuePrefix}*`, 'COUNT', 500)
      if (keys.length > 0) await redis.del(...keys)
      cursor = next
    } while (cursor !== '0')
  } catch {
    // Redis may be the thing a test took away; its keys expire or belong to a unique prefix anyway.
  } finally {
    redis.disconnect()
  }
}

export interface TestApp {
  app: FastifyInstance
  config: Config
  logs: LogCapture
}

/** Builds the app against real Postgres and Redis with its own schema and queue prefix. */
export async function buildTestApp(
  t: Tap,
  overrides: Record<string, string> = {},
  beforeReady?: (app: FastifyInstance) => void | Promise<void>,
): Promise<TestApp> {
  const config = await testConfig(overrides)
  await provisionTestServices(t, config)
  const logs = new LogCapture()
  const app = await buildApp(config, { logStream: logs })
  t.teardown(() => app.close())
  await beforeReady?.(app)
  await app.ready()
  return { app, config, logs }
}
