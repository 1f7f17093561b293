import { type Static, Type } from 'typebox'
import { Bool, ConfigError, Int, invalidValues } from './lib/env-schema.js'

export { ConfigError }

/**
 * The whole configuration of the hub, read from the environment here and nowhere else.
 * Every process (API, worker, CLI) loads it through {@link loadConfig}.
 */
/** What a variable whose pattern says little to a reader may hold, in words. */
const ALLOWED: Record<string, string> = {
  DATABASE_URL: 'a postgres:// or postgresql:// URL',
  DATABASE_SCHEMA: 'a lower-case name: a letter or _, then letters, digits or _ (63 at most)',
  REDIS_URL: 'a redis:// or rediss:// URL',
  QUEUE_PREFIX: 'a Redis hash tag: 1 to 64 of A-Z a-z 0-9 _ . - in braces, such as {trm}',
  PUBLIC_URL: 'an http:// or https:// URL, such as https://hub.example.eu',
  METRICS_PORT: 'a port number, or off',
  WORKER_METRICS_PORT: 'a port number, or off',
  AUDIT_LOG_ORIGIN: 'a log origin without spaces or +, such as hub.example.eu/audit',
}

const EnvSchema = Type.Object({
  DATABASE_URL: Type.String({ pattern: '^postgres(ql)?://', description: 'PostgreSQL connection URL' }),
  DATABASE_SCHEMA: Type.Optional(Type.String({ pattern: '^[a-z_][a-z0-9_]{0,62}$' })),
  DATABASE_POOL_MAX: Type.Optional(Int({ minimum: 1 })),
  REDIS_URL: Type.String({ pattern: '^rediss?://' }),
  QUEUE_PREFIX: Type.Optional(Type.String({ pattern: '^\\{[A-Za-z0-9_.-]{1,64}\\}$' })),
  HOST: Type.Optional(Type.String({ minLength: 1 })),
  PORT: Type.Optional(Int({ minimum: 0 })),
  PUBLIC_URL: Type.Optional(Type.String({ pattern: '^https?://[^/]+(/.*)?$' })),
  LOG_LEVEL: Type.Optional(
    Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l))),
  ),
  LOG_PRETTY: Type.Optional(Bool),
  BODY_LIMIT_BYTES: Type.Optional(Int({ minimum: 1024 })),
  RATE_LIMIT_MAX: Type.Optional(Int({ minimum: 1 })),
  RATE_LIMIT_WINDOW_SECONDS: Type.Optional(Int({ minimum: 1 })),
  RATE_LIMIT_AUTH_FAILURES_MAX: Type.Optional(Int({ minimum: 1 })),
  RATE_LIMIT_TOKEN_MAX: Type.Optional(Int({ minimum: 1 })),
  RATE_LIMIT_SYNC_MS: Type.Optional(Int({ minimum: 10, maximum: 10_000 })),
  REQUEST_TIMEOUT_MS: Type.Optional(Int({ minimum: 100 })),
  // Above the longest long-poll (30 s) and its margin: an idle socket waiting for its answer is cut.
  CONNECTION_TIMEOUT_MS: Type.Optional(Int({ minimum: 35_000 })),
  KEEP_ALIVE_TIMEOUT_MS: Type.Optional(Int({ minimum: 1_000 })),
  METRICS_HOST: Type.Optional(Type.String({ minLength: 1 })),
  METRICS_PORT: Type.Optional(Type.String({ pattern: '^([0-9]+|off)$' })),
  WORKER_METRICS_PORT: Type.Optional(Type.String({ pattern: '^([0-9]+|off)$' })),
  TRUST_PROXY: Type.Optional(Bool),
  HUB_SIGNING_KEYS: Type.Optional(Type.String({ minLength: 2 })),
  HUB_SIGNING_KEYS_FILE: Type.Optional(Type.String({ minLength: 1 })),
  HUB_SIGNING_KEYS_GENERATE: Type.Optional(Bool),
  ACCESS_TOKEN_TTL_SECONDS: Type.Optional(Int({ minimum: 60, maximum: 86_400 })),
  AUDIT_TOKEN_REFUSALS_PER_MINUTE: Type.Optional(Int({ minimum: 1 })),
  DEADLINE_IMMEDIATE_SECONDS: Type.Optional(Int({ minimum: 1 })),
  DEADLINE_URGENT_SECONDS: Type.Optional(Int({ minimum: 1 })),
  DEADLINE_ROUTINE_SECONDS: Type.Optional(Int({ minimum: 1 })),
  DEADLINE_SWEEP_MS: Type.Optional(Int({ minimum: 10 })),
  WEBHOOK_ALLOW_LOOPBACK: Type.Optional(Bool),
  WEBHOOK_MAX_ATTEMPTS: Type.Optional(Int({ minimum: 1 })),
  WEBHOOK_BACKOFF_MS: Type.Optional(Int({ minimum: 1 })),
  WEBHOOK_TIMEOUT_MS: Type.Optional(Int({ minimum: 100 })),
  OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: Type.Optional(Int({ minimum: 0 })),
  OVERLOAD_MAX_HEAP_USED_BYTES: Type.Optional(Int({ minimum: 0 })),
  SUBMISSION_QUEUE_MAX: Type.Optional(Int({ minimum: 1 })),
  SUBMISSION_STATEMENTS_MAX: Type.Optional(Int({ minimum: 1 })),
  STATS_MIN_CELL: Type.Optional(Int({ minimum: 1, maximum: 1_000_000 })),
  RETENTION_DAYS: Type.Optional(Int({ minimum: 1 })),
  CONSENT_ERASURE_DEADLINE_SECONDS: Type.Optional(Int({ minimum: 1 })),
  AUDIT_LOG_ORIGIN: Type.Optional(Type.String({ pattern: '^[^\\s+—]{1,200}$' })),
  AUDIT_WITNESS_KEYS: Type.Optional(Type.String({ minLength: 1 })),
})
type Env = Static<typeof EnvSchema>

export interface Config {
  readonly databaseUrl: string
  readonly databaseSchema: string | undefined
  readonly databasePoolMax: number
  readonly redisUrl: string
  readonly queuePrefix: string
  readonly host: string
  readonly port: number
  readonly publicUrl: string
  readonly logLevel: string
  readonly logPretty: boolean
  readonly bodyLimitBytes: number
  /**
   * Budgets per client address and window, counted before authentication (in each process, shared
   * through Redis): every request, failed authentications (401s), and requests to the token endpoint.
   */
  readonly rateLimit: {
    readonly max: number
    readonly windowSeconds: number
    readonly authFailuresMax: number
    readonly tokenMax: number
    /** How often each process's counts go to Redis and the other processes' come back. */
    readonly syncMs: number
  }
  /**
   * `requestMs`: the whole request, headers and body, must arrive within it (Fastify's requestTimeout;
   * the time to answer is not counted, so long-polls are not cut). `connectionMs`: a socket with no
   * traffic either way for this long is closed. `keepAliveMs`: an idle keep-alive connection is closed.
   */
  readonly timeouts: {
    readonly requestMs: number
    readonly connectionMs: number
    readonly keepAliveMs: number
  }
  /**
   * Prometheus metrics on a listener of their own, never the public port: `port` for an API process,
   * `workerPort` for a worker process, both on `host`; undefined: off.
   */
  readonly metrics: {
    readonly host: string
    readonly port: number | undefined
    readonly workerPort: number | undefined
  }
  readonly trustProxy: boolean
  readonly hubKeys: { readonly json?: string; readonly file?: string; readonly generate: boolean }
  readonly accessTokenTtlSeconds: number
  /** token.refused audit events written per client address per minute; the rest are counted, not each written. */
  readonly auditTokenRefusalsPerMinute: number
  readonly deadlines: { readonly immediate: number; readonly urgent: number; readonly routine: number }
  /** How often the worker's deadline sweep looks for referrals past their due time. */
  readonly deadlineSweepMs: number
  readonly webhooks: {
    readonly allowLoopback: boolean
    readonly maxAttempts: number
    readonly backoffMs: number
    readonly timeoutMs: number
  }
  /**
   * Load shedding: 503 with Retry-After while the event loop lags or the heap is nearly full (0 turns a
   * check off; the heap bound defaults to 90 % of V8's heap limit), and at most this many submissions
   * waiting for a statement, and at most `submissionStatementsMax` such statements running at once
   * (never more than the pool's connections).
   */
  readonly overload: {
    readonly maxEventLoopDelayMs: number
    readonly maxHeapUsedBytes: number | undefined
    readonly submissionQueueMax: number
    readonly submissionStatementsMax: number
  }
  readonly statsMinCell: number
  readonly retentionDays: number
  /** How long each holder has to confirm erasure after a consent withdrawal before its NCP is told. */
  readonly consentErasureDeadlineSeconds: number
  /** The transparency log: checkpoint origin (also the hub's note key name) and witness vkeys. */
  readonly auditLog: { readonly origin: string; readonly witnessKeys: readonly string[] }
}

const DatabaseEnvSchema = Type.Pick(EnvSchema, [
  'DATABASE_URL',
  'DATABASE_SCHEMA',
  'DATABASE_POOL_MAX',
  'WEBHOOK_ALLOW_LOOPBACK',
])

type Source = Record<string, string | undefined>

function pick(source: Source, keys: string[]): Record<string, string> {
  const env: Record<string, string> = {}
  for (const key of keys) {
    const value = source[key]
    if (value !== undefined && value !== '') env[key] = value
  }
  return env
}

function collectProblems(
  schema: { properties: Record<string, unknown>; required?: string[] },
  env: Record<string, string>,
) {
  const problems = new Map<string, string>()
  for (const name of schema.required ?? []) if (env[name] === undefined) problems.set(name, 'is required')
  for (const [name, message] of invalidValues(schema, env, ALLOWED)) problems.set(name, message)
  return problems
}

const fail = (problems: Map<string, string>) =>
  new ConfigError([...problems].map(([variable, message]) => ({ variable, message })))

/** Validates the environment and returns a frozen Config; throws one ConfigError naming every bad variable. */
export function loadConfig(source: Source = process.env): Config {
  const env = pick(source, Object.keys(EnvSchema.properties))
  const problems = collectProblems(EnvSchema, env)
  if (!env['HUB_SIGNING_KEYS'] && !env['HUB_SIGNING_KEYS_FILE']) {
    problems.set('HUB_SIGNING_KEYS', 'is required (or HUB_SIGNING_KEYS_FILE)')
  }
  if (problems.size > 0) throw fail(problems)
  return freeze(env as unknown as Env)
}

/** The database part alone, for commands that need nothing else (`trm migrate`, `trm agencies add`). */
export function loadDatabaseConfig(source: Source = process.env): Pick<
  Config,
  'databaseUrl' | 'databaseSchema' | 'databasePoolMax'
> & {
  webhooks: Pick<Config['webhooks'], 'allowLoopback'>
} {
  const env = pick(source, Object.keys(DatabaseEnvSchema.properties))
  const problems = collectProblems(DatabaseEnvSchema, env)
  if (problems.size > 0) throw fail(problems)
  return Object.freeze({
    databaseUrl: env['DATABASE_URL']!,
    databaseSchema: env['DATABASE_SCHEMA'],
    databasePoolMax: Number(env['DATABASE_POOL_MAX'] ?? 2),
    webhooks: { allowLoopback: env['WEBHOOK_ALLOW_LOOPBACK'] === 'true' },
  })
}

/** The hub signing keys alone, for `trm audit verify` (which needs nothing else but the database). */
export function loadHubKeysConfig(source: Source = process.env): Config['hubKeys'] {
  const env = pick(source, ['HUB_SIGNING_KEYS', 'HUB_SIGNING_KEYS_FILE'])
  if (!env['HUB_SIGNING_KEYS'] && !env['HUB_SIGNING_KEYS_FILE']) {
    throw fail(new Map([['HUB_SIGNING_KEYS', 'is required (or HUB_SIGNING_KEYS_FILE)']]))
  }
  return Object.freeze({
    json: env['HUB_SIGNING_KEYS'],
    file: env['HUB_SIGNING_KEYS_FILE'],
    generate: false,
  })
}

function freeze(env: Env): Config {
  const port = Number(env.PORT ?? 3000)
  const publicUrl = (env.PUBLIC_URL ?? `http://localhost:${port}`).replace(/\/+$/, '')
  const config: Config = {
    databaseUrl: env.DATABASE_URL,
    databaseSchema: env.DATABASE_SCHEMA,
    databasePoolMax: Number(env.DATABASE_POOL_MAX ?? 10),
    redisUrl: env.REDIS_URL,
    queuePrefix: env.QUEUE_PREFIX ?? '{trm}',
    host: env.HOST ?? '127.0.0.1',
    port,
    publicUrl,
    logLevel: env.LOG_LEVEL ?? 'info',
    logPretty: env.LOG_PRETTY === 'true',
    bodyLimitBytes: Number(env.BODY_LIMIT_BYTES ?? 262_144),
    rateLimit: {
      max: Number(env.RATE_LIMIT_MAX ?? 6000),
      windowSeconds: Number(env.RATE_LIMIT_WINDOW_SECONDS ?? 60),
      authFailuresMax: Number(env.RATE_LIMIT_AUTH_FAILURES_MAX ?? 60),
      tokenMax: Number(env.RATE_LIMIT_TOKEN_MAX ?? 120),
      syncMs: Number(env.RATE_LIMIT_SYNC_MS ?? 100),
    },
    timeouts: {
      requestMs: Number(env.REQUEST_TIMEOUT_MS ?? 10_000),
      connectionMs: Number(env.CONNECTION_TIMEOUT_MS ?? 75_000),
      keepAliveMs: Number(env.KEEP_ALIVE_TIMEOUT_MS ?? 72_000),
    },
    metrics: {
      host: env.METRICS_HOST ?? '127.0.0.1',
      port: env.METRICS_PORT === 'off' ? undefined : Number(env.METRICS_PORT ?? 9464),
      workerPort: env.WORKER_METRICS_PORT === 'off' ? undefined : Number(env.WORKER_METRICS_PORT ?? 9465),
    },
    trustProxy: env.TRUST_PROXY === 'true',
    hubKeys: {
      json: env.HUB_SIGNING_KEYS,
      file: env.HUB_SIGNING_KEYS_FILE,
      generate: env.HUB_SIGNING_KEYS_GENERATE === 'true',
    },
    accessTokenTtlSeconds: Number(env.ACCESS_TOKEN_TTL_SECONDS ?? 900),
    auditTokenRefusalsPerMinute: Number(env.AUDIT_TOKEN_REFUSALS_PER_MINUTE ?? 20),
    deadlines: {
      immediate: Number(env.DEADLINE_IMMEDIATE_SECONDS ?? 4 * 3600),
      urgent: Number(env.DEADLINE_URGENT_SECONDS ?? 24 * 3600),
      routine: Number(env.DEADLINE_ROUTINE_SECONDS ?? 72 * 3600),
    },
    deadlineSweepMs: Number(env.DEADLINE_SWEEP_MS ?? 5_000),
    webhooks: {
      allowLoopback: env.WEBHOOK_ALLOW_LOOPBACK === 'true',
      maxAttempts: Number(env.WEBHOOK_MAX_ATTEMPTS ?? 20),
      backoffMs: Number(env.WEBHOOK_BACKOFF_MS ?? 30_000),
      timeoutMs: Number(env.WEBHOOK_TIMEOUT_MS ?? 10_000),
    },
    overload: {
      maxEventLoopDelayMs: Number(env.OVERLOAD_MAX_EVENT_LOOP_DELAY_MS ?? 1_000),
      maxHeapUsedBytes:
        env.OVERLOAD_MAX_HEAP_USED_BYTES === undefined ? undefined : Number(env.OVERLOAD_MAX_HEAP_USED_BYTES),
      submissionQueueMax: Number(env.SUBMISSION_QUEUE_MAX ?? 1_000),
      submissionStatementsMax: Number(env.SUBMISSION_STATEMENTS_MAX ?? 2),
    },
    statsMinCell: Number(env.STATS_MIN_CELL ?? 11),
    retentionDays: Number(env.RETENTION_DAYS ?? 365),
    consentErasureDeadlineSeconds: Number(env.CONSENT_ERASURE_DEADLINE_SECONDS ?? 72 * 3600),
    auditLog: {
      origin: env.AUDIT_LOG_ORIGIN ?? `${new URL(publicUrl).host}/audit`,
      witnessKeys: (env.AUDIT_WITNESS_KEYS ?? '').split(',').flatMap((k) => (k.trim() ? [k.trim()] : [])),
    },
  }
  return Object.freeze(config)
}
