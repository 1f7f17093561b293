import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import type { Config } from '../config.js'
import { createDb } from '../db/create-db.js'
import type { Database } from '../db/types.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Kysely<Database>
  }
}

export default fp<{ config: Config }>(
  async function db(app, { config }) {
    const { db } = createDb(config, 'trm-hub-api')
    app.decorate('db', db)
    app.addHook('onClose', async () => db.destroy())
  },
  { name: 'trm-db' },
)
