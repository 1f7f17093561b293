// The hub as deployed, for bench/referrals.ts and bench/delivery.ts: the API (`node
// dist/src/server.js`) and the worker (`node dist/src/worker.js`) as separate processes built from
// dist/, on one Postgres and one Redis, set up as an operator would (`trm migrate`, `trm agencies
// add`). The benchmarks build nothing: a missing or stale dist/ stops them with a message.
//
// Services are either the machine's own (`shared`: DATABASE_URL and REDIS_URL, or the standard
// loopback ports; the hub gets a schema and a queue prefix of its own, removed afterwards) or a
// private PostgreSQL cluster and redis-server started for the run on spare loopback ports
// (`private`, bench/lib/private-services.ts), whose every process is the benchmark's: on a machine
// shared with other work, only then are Postgres's background processes and Redis's CPU all ours.
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import pg from 'pg'
import { HubClient } from '../../src/sdk/hub-client.js'
import { type AgencyKeys, generateAgencyKeys, type SigningAlg } from '../../src/sdk/keys.js'
import { DATABASE_URL, REDIS_URL } from '../../test/helpers/env.js'
import { freePort } from '../../test/helpers/tcp-proxy.js'
import { trm } from './drill-hub.js'
import { type Death, HubProcess } from './hub-processes.js'
import { PrivatePostgres, PrivateRedis, postgresBinDir, redisServerAvailable } from './private-services.js'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const DIST = join(ROOT, 'dist', 'src')

/** Why the built hub cannot be measured (dist/ missing, or older than src/ or migrations/), else undefined. */
export async function distProblem(): Promise<string | undefined> {
  for (const file of ['server.js', 'worker.js', 'cli.js']) {
    if (!existsSync(join(DIST, file)))
      return `${join(DIST, file)} is missing: run \`npm run build\` first (the benchmark builds nothing itself)`
  }
  const built = statSync(join(DIST, 'server.js')).mtimeMs
  for (const dir of ['src', 'migrations']) {
    const files = await readdir(join(ROOT, dir), { recursive: true })
    const newer = files.find((f) => f.endsWith('.ts') && statSync(join(ROOT, dir, f)).mtimeMs > built)
    if (newer)
      return `${dir}/${newer} is newer than dist/: run \`npm run build\` first (the benchmark builds nothing itself)`
  }
  return undefined
}

export type ServicesKind = 'shared' | 'private'

export interface Services {
  kind: ServicesKind
  databaseUrl: string
  redisUrl: string
  stop(): Promise<void>
}

/** The machine's Postgres and Redis, or private ones under `dir` (needs Debian's postgresql and redis-server). */
export async function openServices(kind: ServicesKind, dir: string): Promise<Services> {
  if (kind === 'shared')
    return { kind, databaseUrl: DATABASE_URL, redisUrl: REDIS_URL, stop: async () => undefined }
  const bin = postgresBinDir()
  if (!bin || !redisServerAvailable())
    throw new Error(
      '--services private needs PostgreSQL (initdb, pg_ctl under /usr/lib/postgresql) and redis-server: ' +
        'apt-get install -y postgresql redis-server',
    )
  chmodSync(dir, 0o755) // user postgres must reach its data directory inside (mkdtemp makes it 0700)
  const postgres = new PrivatePostgres(bin, join(dir, 'pg'), await freePort())
  const redis = new PrivateRedis(join(dir, 'redis'), await freePort())
  await postgres.init()
  await postgres.start()
  await redis.start()
  return {
    kind,
    databaseUrl: postgres.url,
    redisUrl: redis.url,
    async stop() {
      await redis.stop().catch(() => {})
      await postgres.stopIfRunning()
    },
  }
}

/** `url` with a query parameter added: the application_name a process's connections carry. */
export function withParameter(url: string, name: string, value: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}${name}=${encodeURIComponent(value)}`
}

export interface RegisteredAgency {
  id: string
  keys: AgencyKeys
  country: string
}

export interface DeployedHubOptions {
  services: Services
  schema: string
  queuePrefix: string
  /** The hub signing keys (JWKS JSON), as HUB_SIGNING_KEYS. */
  hubKeys: string
  /** Where each process's stdout and stderr are appended, and the agencies' JWKS files written. */
  logDir: string
  /** Environment beyond the common one (e.g. WEBHOOK_ALLOW_LOOPBACK). */
  env?: Record<string, string>
  /** Node options of the API and worker processes (e.g. --cpu-prof). */
  nodeArgs?: string[]
}

/**
 * One API process and one worker process. Their connections carry application names of their own
 * (`<schema>_api`, `<schema>_worker`), so Postgres's backends can be told apart. A process that
 * exits without being told to is recorded in `deaths` (and started again by HubProcess).
 */
export class DeployedHub {
  readonly deaths: Death[] = []
  readonly apiApplicationName: string
  readonly workerApplicationName: string
  /** The environment of every hub process and `trm` command, without the port and application name. */
  readonly env: Record<string, string>
  port = 0
  private api: HubProcess | undefined
  private worker: HubProcess | undefined
  private workerStarts = 0

  constructor(private readonly options: DeployedHubOptions) {
    this.apiApplicationName = `${options.schema}_api`
    this.workerApplicationName = `${options.schema}_worker`
    this.env = {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      DATABASE_URL: options.services.databaseUrl,
      DATABASE_SCHEMA: options.schema,
      REDIS_URL: options.services.redisUrl,
      QUEUE_PREFIX: options.queuePrefix,
      HUB_SIGNING_KEYS: options.hubKeys,
      PUBLIC_URL: 'http://hub.bench',
      LOG_LEVEL: 'warn',
      METRICS_PORT: 'off',
      // One client address sends everything: the limiter runs (it counts in the process and sends its
      // counts to Redis every RATE_LIMIT_SYNC_MS) but must not refuse. Tokens are fetched before the
      // runs and must outlive them.
      RATE_LIMIT_MAX: '1000000000',
      ACCESS_TOKEN_TTL_SECONDS: '86400',
      ...options.env,
    }
  }

  /** What differs from a default deployment, for the report. */
  static readonly SETTINGS =
    'LOG_LEVEL=warn, METRICS_PORT=off, RATE_LIMIT_MAX=1000000000, ACCESS_TOKEN_TTL_SECONDS=86400'

  get apiPid(): number | undefined {
    return this.api?.pid
  }

  get workerPid(): number | undefined {
    return this.worker?.running ? this.worker.pid : undefined
  }

  /** `trm migrate` from dist/. */
  async migrate(): Promise<void> {
    const migrated = await trm(DIST, ['migrate'], this.env)
    if (migrated.code !== 0) throw new Error(`trm migrate failed: ${migrated.stderr.trim()}`)
  }

  /** Generates an agency's keys and registers it with `trm agencies add` from dist/, as an operator would. */
  async registerAgency(agency: {
    name: string
    country: string
    kind: 'ngo' | 'national_agency' | 'hub_operator'
    ncp?: boolean
    alg?: SigningAlg
    pushUrl?: string
  }): Promise<RegisteredAgency> {
    const keys = await generateAgencyKeys(agency.alg ?? 'ES256')
    const file = join(this.options.logDir, `agency-${keys.signing.kid.slice(4, 20)}.jwks.json`)
    writeFileSync(file, JSON.stringify(keys.publicJwks))
    const args = ['agencies', 'add', '--name', agency.name, '--country', agency.country]
    args.push('--kind', agency.kind, '--jwks', file, '--json')
    if (agency.ncp) args.push('--ncp')
    if (agency.pushUrl) args.push('--push-url', agency.pushUrl)
    const added = await trm(DIST, args, this.env)
    if (added.code !== 0) throw new Error(`trm agencies add failed: ${added.stderr.trim()}`)
    return { id: (JSON.parse(added.stdout) as { id: string }).id, keys, country: agency.country }
  }

  private operator: Promise<HubClient> | undefined

  /**
   * Registers an agency through the running API (POST /v1/agencies) as the hub's operator, whom the
   * first call registers with `trm agencies add`: one command in all, for benchmarks with many agencies.
   */
  async registerThroughApi(agency: {
    name: string
    country: string
    kind: 'ngo' | 'national_agency'
    ncp?: boolean
    alg?: SigningAlg
    pushUrl?: string
  }): Promise<RegisteredAgency> {
    this.operator ??= this.registerAgency({
      name: 'Bench operator (fictional)',
      country: 'BE',
      kind: 'hub_operator',
    }).then((operator) => this.client(operator))
    const keys = await generateAgencyKeys(agency.alg ?? 'ES256')
    const created = await (await this.operator).request<{ id: string }>('POST', '/v1/agencies', {
      name: agency.name,
      country: agency.country,
      kind: agency.kind,
      nationalContactPoint: agency.ncp ?? false,
      delivery: agency.pushUrl ? { mode: 'push', url: agency.pushUrl } : { mode: 'pull' },
      jwks: keys.publicJwks,
    })
    return { id: created.id, keys, country: agency.country }
  }

  /** An agency's client of the running API. */
  client(agency: RegisteredAgency): HubClient {
    return new HubClient({
      baseUrl: `http://127.0.0.1:${this.port}`,
      agencyId: agency.id,
      signingKey: agency.keys.signing,
    })
  }

  /** The errors (pino level 50 and above) the hub processes logged, counted by message. */
  loggedErrors(): Map<string, number> {
    const causes = new Map<string, number>()
    for (const file of readdirSync(this.options.logDir).filter((f) => /^(api|worker(-\d+)?)\.log$/.test(f))) {
      for (const line of readFileSync(join(this.options.logDir, file), 'utf8').split('\n')) {
        if (!/"level":(50|60)/.test(line)) continue
        let cause = 'unparsed log line'
        try {
          const entry = JSON.parse(line) as { err?: { message?: string }; msg?: string }
          cause = entry.err?.message ?? entry.msg ?? 'unknown'
        } catch {}
        const key = `${file.replace(/\.log$/, '')}: ${cause}`
        causes.set(key, (causes.get(key) ?? 0) + 1)
      }
    }
    return causes
  }

  /** Starts the API and the worker and waits until the API answers /health/live. */
  async start(): Promise<void> {
    this.port = await freePort()
    this.api = new HubProcess(
      'api',
      join(DIST, 'server.js'),
      {
        ...this.env,
        DATABASE_URL: withParameter(this.env['DATABASE_URL']!, 'application_name', this.apiApplicationName),
        HOST: '127.0.0.1',
        PORT: String(this.port),
      },
      this.options.logDir,
      (death) => this.deaths.push(death),
      this.port,
      this.options.nodeArgs,
    )
    this.api.start()
    this.startWorker()
    if (!(await this.api.waitLive(60_000)))
      throw new Error(`the API did not come up; see ${this.options.logDir}`)
  }

  /** Starts a worker process (a new one after stopWorker). */
  startWorker(): void {
    this.workerStarts += 1
    this.worker = new HubProcess(
      this.workerStarts === 1 ? 'worker' : `worker-${this.workerStarts}`,
      join(DIST, 'worker.js'),
      {
        ...this.env,
        DATABASE_URL: withParameter(
          this.env['DATABASE_URL']!,
          'application_name',
          this.workerApplicationName,
        ),
      },
      this.options.logDir,
      (death) => this.deaths.push(death),
      undefined,
      this.options.nodeArgs,
    )
    this.worker.start()
  }

  /** Stops the worker (SIGTERM, as a deployment would), for runs of the API process alone. */
  async stopWorker(): Promise<void> {
    await this.worker?.stop(30_000)
  }

  /** Stops both processes (SIGTERM; SIGKILL after the grace). */
  async stop(): Promise<void> {
    await Promise.allSettled([this.api?.stop(15_000), this.worker?.stop(30_000)])
  }
}

/** Deletes every Redis key under `prefix`; answers how many. */
export async function deleteRedisPrefix(redisUrl: string, prefix: string): Promise<number> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 })
  redis.on('error', () => {})
  let deleted = 0
  try {
    await redis.connect()
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
      if (keys.length > 0) deleted += await redis.del(...keys)
      cursor = next
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
  return deleted
}

/** INFO server of the Redis at `redisUrl` (for its pid and version). */
export async function redisInfo(redisUrl: string): Promise<string> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 })
  redis.on('error', () => {})
  try {
    await redis.connect()
    return await redis.info('server')
  } finally {
    redis.disconnect()
  }
}

/** A plain connection to the services' Postgres, for the bench's own queries (a name of its own). */
export async function monitorClient(databaseUrl: string, applicationName: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: applicationName })
  client.on('error', () => {})
  await client.connect()
  return client
}
