import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import type { Config } from '../config.js'
import { createDb } from '../db/create-db.js'
import type { Database } from '../db/types.js'
import { DirectoryCache } from '../modules/agencies/directory-cache.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Kysely<Database>
    /** Agencies and keys for the request path, kept for seconds (see DirectoryCache). */
    directory: DirectoryCache
  }
}

export default fp<{ config: Config }>(
  async function db(app, { config }) {
    const { db } = createDb(config, 'trm-hub-api')
    app.decorate('db', db)
    app.decorate('directory', new DirectoryCache(db))
    app.addHook('onClose', async () => db.destroy())
  },
  { name: 'trm-db' },
)
