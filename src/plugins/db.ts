import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import type { Config } from '../config.js'
import { createDb } from '../db/create-db.js'
import type { Database } from '../db/types.js'
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
    // Half the pool at most writes submissions, so reads and other requests keep connections.
    app.decorate(
      'submissions',
      submissionQueue(db, {
        statementsInFlight: Math.max(1, Math.floor(config.databasePoolMax / 2)),
        maxWaiting: config.overload.submissionQueueMax,
      }),
    )
    app.addHook('onClose', async () => db.destroy())
  },
  { name: 'trm-db' },
)
