import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
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
} from '../modules/agencies/agencies.schemas.js'
import { createAgency } from '../modules/agencies/agencies.service.js'
import { EXIT, UsageError } from './usage.js'

const checkAgency = compileInputCheck(AgencyCreateSchema, schemaContext(AGENCY_SCHEMAS))

/** `trm agencies add`: registers an agency straight in the database (bootstrapping the first operator). */
export async function agenciesAddCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      name: { type: 'string' },
      country: { type: 'string' },
      kind: { type: 'string' },
      jwks: { type: 'string' },
      ncp: { type: 'boolean', default: false },
      'push-url': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  })
  const missing = (['name', 'country', 'kind', 'jwks'] as const).filter((k) => !values[k])
  if (missing.length > 0)
    throw new UsageError(`agencies add needs ${missing.map((m) => `--${m}`).join(', ')}`)
  let jwks: unknown
  try {
    jwks = JSON.parse(await readFile(values.jwks!, 'utf8'))
  } catch (error) {
    throw new UsageError(`cannot read --jwks ${values.jwks}: ${(error as Error).message}`)
  }
  const input = {
    name: values.name!,
    country: values.country!,
    kind: values.kind!,
    nationalContactPoint: values.ncp,
    delivery: values['push-url'] ? { mode: 'push', url: values['push-url'] } : { mode: 'pull' },
    jwks,
  }
  if (!checkAgency.Check(input)) {
    const errors = fieldErrors(checkAgency.Errors(input) as never)
    throw new UsageError(`invalid agency: ${errors.map((e) => `${e.pointer} ${e.detail}`).join('; ')}`)
  }
  const dbConfig = loadDatabaseConfig()
  const { db } = createDb(dbConfig, 'trm-cli')
  try {
    const agency = await createAgency({ db, config: dbConfig }, input as AgencyCreate, { agencyId: 'cli' })
    if (values.json) process.stdout.write(`${JSON.stringify(agency, null, 2)}\n`)
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
