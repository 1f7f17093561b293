// What a run of bench/referrals.ts was (its header: command, commit, machine, services, processes)
// and what it met (the targets of issue 18 and the checks), printed before and after its tables.
import { execFileSync } from 'node:child_process'
import { availableParallelism, cpus, loadavg } from 'node:os'
import type pg from 'pg'
import { DeployedHub, ROOT, type Services } from './deployed-hub.js'
import { fmtMs, out } from './format.js'
import { percentile } from './ipc.js'
import { LABEL, type Measured, medianRatio } from './referrals-report.js'

const TARGET_P99_FACTOR = 2
const TARGET_RATIO = 0.9

export async function header(x: {
  argv: string[]
  seeded: string
  monitor: pg.Client
  svc: Services
  hub: DeployedHub
  signed: { count: number; seconds: number; bytes: number }
  basePid: number
  loadgenPid: number
  storedBefore: number
  redisPid: number | undefined
  poolMax: number
}) {
  const { rows } = await x.monitor.query<{ name: string; setting: string }>(
    `select name, current_setting(name) as setting from unnest(array[
       'server_version', 'synchronous_commit', 'shared_buffers', 'fsync', 'wal_sync_method',
       'commit_delay', 'max_connections', 'max_wal_size', 'autovacuum']) as name`,
  )
  const pg = Object.fromEntries(rows.map((r) => [r.name, r.setting]))
  const catalog = await x.monitor.query<{ dead: string }>(
    `select coalesce(sum(n_dead_tup), 0) as dead from pg_stat_sys_tables
     where relname in ('pg_attribute', 'pg_class', 'pg_depend', 'pg_type')`,
  )
  const loads = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')
  out('# Referral submission benchmark: the hub as deployed')
  out()
  out(`command: npx tsx bench/referrals.ts ${x.argv.join(' ')}`)
  out(`hub code: ${hubRevision()} (dist/ built from it)`)
  out(
    `machine: ${availableParallelism()} CPUs (${cpus()[0]?.model.trim()}), node ${process.version}, ` +
      `load average ${loads} before the runs`,
  )
  out(
    `services: ${x.svc.kind} (${x.svc.kind === 'shared' ? "the machine's Postgres and Redis, shared with whatever else uses them" : 'a private PostgreSQL cluster and redis-server started for this run'}); ` +
      `postgres ${pg['server_version']}: synchronous_commit=${pg['synchronous_commit']}, ` +
      `shared_buffers=${pg['shared_buffers']}, fsync=${pg['fsync']}, wal_sync_method=${pg['wal_sync_method']}, ` +
      `commit_delay=${pg['commit_delay']}, max_connections=${pg['max_connections']}, ` +
      `max_wal_size=${pg['max_wal_size']}, autovacuum=${pg['autovacuum']}; dead rows in the main catalogs: ${catalog.rows[0]!.dead}`,
  )
  out(
    `processes: API pid ${x.hub.apiPid} (node dist/src/server.js), worker pid ${x.hub.workerPid} ` +
      `(node dist/src/worker.js), both with ${DeployedHub.SETTINGS}; baseline pid ${x.basePid} ` +
      `(pool ${x.poolMax}); load generator pid ${x.loadgenPid} (node:http keep-alive); redis-server pid ` +
      `${x.redisPid ?? 'not on this machine'}`,
  )
  out(
    `hub schema: ${x.hub.env['DATABASE_SCHEMA']} with ${x.storedBefore} referrals stored before the runs` +
      x.seeded,
  )
  out(
    `documents: ${x.signed.count} referrals pre-signed (ES256) in the load generator before timing, ` +
      `${(x.signed.count / x.signed.seconds).toFixed(0)}/s; request body ${x.signed.bytes} bytes`,
  )
  if (loadavg()[0]! > 0.5) out(`note: the machine was not idle before the runs (1-minute load ${loads})`)
  out()
}

export function targets(x: {
  open: Measured[]
  closed: Measured[][]
  stored: number
  hub: DeployedHub
  rate: number
  apiAlone: boolean
  cpuProfiles: string | undefined
}): boolean {
  const base = x.open.find((m) => m.who === 'baseline')!
  const hub = x.open.find((m) => m.who === 'hub')!
  const baseP99 = percentile(base.sorted, 99)
  const hubP99 = percentile(hub.sorted, 99)
  const hubErrors = hub.errors + hub.result.warmupErrors
  const latencyMet = hubP99 <= TARGET_P99_FACTOR * baseP99 && hubErrors === 0
  const median = medianRatio(x.closed, 'hub')
  const ratioMet = median.ratio >= TARGET_RATIO
  out('## Targets (issue 18) and checks')
  out()
  out(
    `- open loop at ${x.rate}/s: hub p99 ${fmtMs(hubP99)} <= ${TARGET_P99_FACTOR} x baseline p99 ${fmtMs(baseP99)}, ` +
      `0 errors (hub: ${hubErrors}): ${latencyMet ? 'met' : 'NOT met'}`,
  )
  out(
    `- saturation, hub >= ${TARGET_RATIO} x baseline on the median round: round ${median.round + 1}, ratio ` +
      `${median.ratio.toFixed(2)} (all rounds: ${median.all.map((r) => r.toFixed(2)).join(', ')}): ` +
      `${ratioMet ? 'met' : 'NOT met'}${x.closed.length < 3 ? ` (only ${x.closed.length} round(s): the target asks for at least 3)` : ''}`,
  )
  if (x.apiAlone) {
    const api = medianRatio(x.closed, 'api')
    out(
      `- ${LABEL.api}: median ratio ${api.ratio.toFixed(2)} (all rounds: ${api.all.map((r) => r.toFixed(2)).join(', ')})`,
    )
  }
  const runs = [...x.open, ...x.closed.flat()].filter((m) => m.who !== 'baseline')
  const answered = runs.reduce((sum, m) => sum + m.result.okTotal, 0)
  const failedRequests = runs.reduce((sum, m) => sum + m.errors + m.result.warmupErrors, 0)
  // A request the generator gave up on may still have been stored; one answered 201 must be.
  const lost = x.stored < answered
  out(
    `- check: the hub stored ${x.stored} referrals during the runs; it answered 201 to ${answered} ` +
      `(and failed ${failedRequests}): ${lost ? `${answered - x.stored} answered but NOT stored` : 'none lost'}`,
  )
  const samples = runs.flatMap((m) => m.result.errorSamples)
  if (samples.length > 0) out(`- hub error samples: ${samples.slice(0, 3).join(' | ')}`)
  for (const death of x.hub.deaths)
    out(`- ${death.name} DIED on its own (code ${death.code}, signal ${death.signal}): ${death.tail}`)
  out(
    `- load average after the runs: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  )
  if (x.cpuProfiles)
    out(`- CPU profiles of the API and the worker (their whole lives) written to ${x.cpuProfiles}`)
  return !latencyMet || !ratioMet || lost || x.hub.deaths.length > 0
}

/** The commit the hub was built from, and whether src/ or migrations/ differ from it. */
function hubRevision(): string {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim()
  try {
    const changed = git('status', '--porcelain', '--', 'src', 'migrations')
    return `commit ${git('rev-parse', '--short', 'HEAD')}${changed ? ', with uncommitted changes in src/ or migrations/' : ''}`
  } catch {
    return 'unknown (not a git checkout)'
  }
}
