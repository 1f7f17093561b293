import { loadDatabaseConfig } from '../config.js'
import { createDb } from '../db/create-db.js'
import { HubError } from '../lib/errors.js'
import { fieldErrors } from '../lib/problem.js'
import { schemaContext } from '../lib/schemas.js'
import { compileInputCheck } from '../lib/validator.js'
import {
  AGENCY_SCHEMAS,
  type AgencyCreate,
  AgencyCreateSchema,
  type AgencyKind,
} from '../modules/agencies/agencies.schemas.js'
import { createAgency } from '../modules/agencies/agencies.service.js'
import { readJsonOption } from './errors.js'
import { EXIT, UsageError } from './usage.js'

const checkAgency = compileInputCheck(AgencyCreateSchema, schemaContext(AGENCY_SCHEMAS))

export interface AgenciesAddOptions {
  name: string
  country: string
  kind: AgencyKind
  jwks: string
  ncp: boolean
  pushUrl?: string | undefined
  json: boolean
}

/** `trm agencies add`: registers an agency straight in the database (bootstrapping the first operator). */
export async function agenciesAddCommand(options: AgenciesAddOptions): Promise<number> {
  const jwks = await readJsonOption('--jwks', options.jwks)
  const input = {
    name: options.name,
    country: options.country,
    kind: options.kind,
    nationalContactPoint: options.ncp,
    delivery: options.pushUrl ? { mode: 'push', url: options.pushUrl } : { mode: 'pull' },
    jwks,
  }
  if (!checkAgency.Check(input)) {
    const errors = fieldErrors(checkAgency.Errors(input))
    throw new UsageError(`invalid agency: ${errors.map((e) => `${e.pointer} ${e.detail}`).join('; ')}`)
  }
  const dbConfig = loadDatabaseConfig()
  const { db } = createDb(dbConfig, 'trm-cli')
  try {
    const agency = await createAgency({ db, config: dbConfig }, input as AgencyCreate, { agencyId: 'cli' })
    if (options.json) process.stdout.write(`${JSON.stringify(agency, null, 2)}\n`)
    else
      process.stdout.write(`registered ${agency.kind} ${agency.name} (${agency.country}) as ${agency.id}\n`)
    return EXIT.ok
  } catch (error) {
    if (error instanceof HubError) {
      const where = error.errors?.map((e) => ` ${e.pointer}: ${e.detail}`).join(';') ?? ''
      process.stderr.write(`trm agencies add: ${error.message}${where}\n`)
      return EXIT.failedCheck
    }
    throw error
  } finally {
    await db.destroy()
  }
}
