// Stores a large number of referrals in a schema of the machine's Postgres and keeps it, for
// bench/referrals.ts --schema NAME (the 1,000,000-referral run).
//
//   npm run build     # the schema is migrated and its agencies registered with trm from dist/
//   npx tsx bench/seed.ts [--referrals 1000000] [--schema NAME] [--batch 25000] [--days 365]
//   npx tsx bench/seed.ts --drop NAME
//
// Creates the schema (bench_seed_<random> unless --schema names one; an existing one is migrated and
// added to), registers the seed's agencies (bench/lib/seed.ts: six NGOs, the national contact points
// of six countries; a country that has one already keeps it), and stores the referrals with their
// payloads, acknowledgements, inbox messages, outbox rows and sealed audit events, set-based, one
// statement per batch, then VACUUM ANALYZE. Prints the schema's name, what it holds and how big it
// is. The schema stays until `--drop NAME`.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { testHubKeys, uniqueName } from '../test/helpers/env.js'
import { DeployedHub, distProblem, monitorClient, openServices } from './lib/deployed-hub.js'
import { out } from './lib/format.js'
import { SEED_AGENCIES, seedReferrals } from './lib/seed.js'

const USAGE =
  'usage: npx tsx bench/seed.ts [--referrals 1000000] [--schema NAME] [--batch 25000] [--days 365] | --drop NAME\n'
const { values } = parseArgs({
  options: {
    referrals: { type: 'string', default: '1000000' },
    schema: { type: 'string' },
    batch: { type: 'string', default: '25000' },
    days: { type: 'string', default: '365' },
    drop: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
})
const count = Number(values.referrals)
const batch = Number(values.batch)
const days = Number(values.days)
const NAME = /^[a-z_][a-z0-9_]{0,62}$/
if (
  values.help ||
  ![count, batch].every((n) => Number.isInteger(n) && n >= 1) ||
  !(days > 0) ||
  [values.schema, values.drop].some((name) => name !== undefined && !NAME.test(name))
) {
  process.stderr.write(USAGE)
  process.exit(values.help ? 0 : 2)
}
const log = (text: string) => process.stderr.write(`${text}\n`)

async function main(): Promise<number> {
  const services = await openServices('shared', '')
  const monitor = await monitorClient(services.databaseUrl, uniqueName('trm_bench_seed'))
  try {
    if (values.drop) {
      await monitor.query(`drop schema if exists ${monitor.escapeIdentifier(values.drop)} cascade`)
      log(`dropped ${values.drop}`)
      return 0
    }
    const problem = await distProblem()
    if (problem) {
      log(`bench/seed.ts sets the schema up with the built hub's trm: ${problem}`)
      return 2
    }
    const schema = values.schema ?? uniqueName('bench_seed')
    const dir = mkdtempSync(join(tmpdir(), 'trm-bench-seed-'))
    try {
      const hub = new DeployedHub({
        services,
        schema,
        queuePrefix: `{${schema}}`,
        hubKeys: await testHubKeys(),
        logDir: dir,
      })
      log(`schema ${schema}: trm migrate`)
      await hub.migrate()
      const ncps = await monitor.query<{ id: string; country: string }>(
        `select id, country from ${monitor.escapeIdentifier(schema)}.agencies
         where national_contact_point and status = 'active'`,
      )
      log('registering the agencies (trm agencies add)')
      const senders = []
      for (const agency of SEED_AGENCIES.senders)
        senders.push(await hub.registerAgency({ ...agency, kind: 'ngo', alg: 'EdDSA' }))
      const recipients = []
      for (const agency of SEED_AGENCIES.recipients)
        recipients.push(
          ncps.rows.find((n) => n.country === agency.country) ??
            (await hub.registerAgency({ ...agency, kind: 'national_agency', ncp: true, alg: 'EdDSA' })),
        )
      const client = await monitorClient(services.databaseUrl, uniqueName('trm_bench_seed'))
      let took: number
      try {
        took = await seedReferrals(client, {
          schema,
          count,
          batch,
          days,
          senders,
          recipients,
          onProgress: (done, seconds) =>
            log(`  ${done} of ${count} referrals stored (${seconds.toFixed(0)} s)`),
        })
      } finally {
        await client.end()
      }
      const { rows } = await monitor.query<{ table: string; rows: string; size: string }>(
        `select c.relname as table, c.reltuples::bigint as rows, pg_size_pretty(pg_total_relation_size(c.oid)) as size
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = $1 and c.relkind = 'r' and c.reltuples > 0 order by pg_total_relation_size(c.oid) desc`,
        [schema],
      )
      out(`seeded ${count} referrals into schema ${schema} in ${took.toFixed(0)} s`)
      for (const row of rows) out(`  ${row.table}: about ${row.rows} rows, ${row.size}`)
      out(`run the benchmark on it:  npx tsx bench/referrals.ts --schema ${schema}`)
      out(`remove it:                npx tsx bench/seed.ts --drop ${schema}`)
      return 0
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  } finally {
    await monitor.end()
  }
}

process.exitCode = await main().catch((error: unknown) => {
  log(`bench/seed.ts failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
  return 2
})
