import type { Kysely } from 'kysely'
import type { Logger } from 'pino'
import type { Config } from '../config.js'
import type { Database } from '../db/types.js'
import type { HubKeys } from '../lib/hub-keys.js'

/** What every job processor may use; built once by the worker process (or a test). */
export interface JobDeps {
  config: Config
  db: Kysely<Database>
  hubKeys: HubKeys
  log: Logger
  now?: () => Date
}

/** The abort reason a closing worker gives the jobs it cancels: they go back to the queue. */
export const SHUTDOWN = 'trm:worker-shutdown'
