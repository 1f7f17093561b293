import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import type { Config } from '../config.js'
import { flushShortly } from '../db/after-commit.js'
import { createDb } from '../db/create-db.js'
import { checkConnection } from '../db/session.repository.js'
import type { Database } from '../db/types.js'
import { connectionReason, postgresAddress } from '../lib/connection-errors.js'
import { DirectoryCache } from '../modules/agencies/directory-cache.js'
import { type SubmissionQueue, submissionQueue } from '../modules/referrals/submissions.repository.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Kysely<Database>
    /** Agencies and keys for the request path, kept for seconds (see DirectoryCache). */
    directory: DirectoryCache
    /** Writes referral submissions, several to a statement under load (see submissionQueue). */
    submissions: SubmissionQueue
  }
}

export default fp<{ config: Config }>(
  async function db(app, { config }) {
    const { db } = createDb(config, 'trm-hub-api')
    app.decorate('db', db)
    app.decorate('directory', new DirectoryCache(db))
    // Few statements at once: referrals that arrive while they run share the next one (fewer
    // statements, less Postgres work per referral), and reads and other requests keep connections.
    app.decorate(
      'submissions',
      submissionQueue(db, {
        statementsInFlight: Math.min(config.overload.submissionStatementsMax, config.databasePoolMax),
        maxWaiting: config.overload.submissionQueueMax,
      }),
    )
    reportPostgresAtStart(app, db, config.databaseUrl)
    app.addHook('onClose', async () => {
      await flushShortly(db)
      await db.destroy()
    })
  },
  { name: 'trm-db' },
)

/**
 * Once listening, says in one line whether Postgres answers: a hub started while Postgres is away
 * runs on (it answers 503 with Retry-After, /health/ready says why) and says so, then says when
 * Postgres answers, looking again with back-off from 0.5 s to 10 s. The pool reconnects by itself.
 */
function reportPostgresAtStart(app: FastifyInstance, db: Kysely<Database>, databaseUrl: string) {
  const where = postgresAddress(databaseUrl)
  let timer: NodeJS.Timeout | undefined
  let closed = false
  const probe = async (failures: number): Promise<void> => {
    try {
      await checkConnection(db)
      if (failures > 0)
        app.log.info({ postgres: where }, `Postgres at ${where} answers: the API serves requests`)
    } catch (error) {
      if (closed) return
      if (failures === 0) {
        app.log.error(
          { postgres: where, reason: connectionReason(error) },
          `Postgres at ${where} does not answer (${connectionReason(error)}): the API answers 503 until it does, and keeps trying`,
        )
      }
      timer = setTimeout(() => void probe(failures + 1), Math.min(10_000, 500 * 2 ** failures))
    }
  }
  app.addHook('onListen', async () => {
    void probe(0)
  })
  app.addHook('onClose', async () => {
    closed = true
    clearTimeout(timer)
  })
}
