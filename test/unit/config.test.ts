import t from 'tap'
import { ConfigError, loadConfig, loadDatabaseConfig } from '../../src/config.js'

const valid = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
  REDIS_URL: 'redis://127.0.0.1:6379',
  HUB_SIGNING_KEYS_FILE: '/tmp/keys.json',
}

t.test('a valid environment gives a frozen config with defaults', async (t) => {
  const config = loadConfig(valid)
  t.equal(config.port, 3000)
  t.equal(config.host, '127.0.0.1')
  t.equal(config.publicUrl, 'http://localhost:3000')
  t.equal(config.queuePrefix, '{trm}')
  t.equal(config.statsMinCell, 11)
  t.equal(config.retentionDays, 365)
  t.same(config.deadlines, { immediate: 14_400, urgent: 86_400, routine: 259_200 })
  t.ok(Object.isFrozen(config))
})

t.test('submissions: how many wait for a statement, how many statements run at once', async (t) => {
  t.match(loadConfig(valid).overload, { submissionQueueMax: 1_000, submissionStatementsMax: 2 })
  t.match(loadConfig({ ...valid, SUBMISSION_QUEUE_MAX: '10', SUBMISSION_STATEMENTS_MAX: '1' }).overload, {
    submissionQueueMax: 10,
    submissionStatementsMax: 1,
  })
  const error = t.throws(() =>
    loadConfig({ ...valid, SUBMISSION_STATEMENTS_MAX: '0' }),
  ) as unknown as ConfigError
  t.same(error.variables, ['SUBMISSION_STATEMENTS_MAX'], 'at least one statement')
})

t.test('values are parsed and trailing slashes trimmed', async (t) => {
  const config = loadConfig({
    ...valid,
    PORT: '8080',
    PUBLIC_URL: 'https://hub.example.eu/',
    STATS_MIN_CELL: '5',
  })
  t.equal(config.port, 8080)
  t.equal(config.publicUrl, 'https://hub.example.eu')
  t.equal(config.statsMinCell, 5)
})

t.test('rate-limit budgets, timeouts and the metrics listener have defaults and can be set', async (t) => {
  const config = loadConfig(valid)
  t.same(config.rateLimit, { max: 6000, windowSeconds: 60, authFailuresMax: 60, tokenMax: 120, syncMs: 100 })
  t.same(config.timeouts, { requestMs: 10_000, connectionMs: 75_000, keepAliveMs: 72_000 })
  t.ok(config.timeouts.connectionMs > 30_000, 'an idle long-poll of 30 s is not cut')
  t.same(config.metrics, { host: '127.0.0.1', port: 9464, workerPort: 9465 })
  const set = loadConfig({
    ...valid,
    RATE_LIMIT_AUTH_FAILURES_MAX: '5',
    RATE_LIMIT_TOKEN_MAX: '7',
    RATE_LIMIT_SYNC_MS: '250',
    REQUEST_TIMEOUT_MS: '500',
    CONNECTION_TIMEOUT_MS: '40000',
    KEEP_ALIVE_TIMEOUT_MS: '5000',
    METRICS_HOST: '10.0.0.5',
    METRICS_PORT: '0',
    WORKER_METRICS_PORT: '0',
  })
  t.match(set.rateLimit, { authFailuresMax: 5, tokenMax: 7, syncMs: 250 })
  t.same(set.timeouts, { requestMs: 500, connectionMs: 40_000, keepAliveMs: 5_000 })
  t.same(set.metrics, { host: '10.0.0.5', port: 0, workerPort: 0 })
  t.equal(loadConfig({ ...valid, METRICS_PORT: 'off' }).metrics.port, undefined, 'off turns the listener off')
  t.equal(
    loadConfig({ ...valid, WORKER_METRICS_PORT: 'off' }).metrics.workerPort,
    undefined,
    "and the worker's",
  )
  const error = t.throws(() =>
    loadConfig({ ...valid, CONNECTION_TIMEOUT_MS: '10000', METRICS_PORT: 'none', RATE_LIMIT_SYNC_MS: '5' }),
  ) as unknown as ConfigError
  t.same(
    error.variables.sort(),
    ['CONNECTION_TIMEOUT_MS', 'METRICS_PORT', 'RATE_LIMIT_SYNC_MS'],
    'below a long-poll, not a port, or a synchronisation too frequent',
  )
})

t.test('one error names every offending variable', async (t) => {
  const error = t.throws(() =>
    loadConfig({ PORT: 'eighty', LOG_LEVEL: 'loud', QUEUE_PREFIX: 'no-hash-tag' }),
  ) as unknown as ConfigError
  t.type(error, ConfigError)
  t.same(
    [...error.variables].sort(),
    ['DATABASE_URL', 'HUB_SIGNING_KEYS', 'LOG_LEVEL', 'PORT', 'QUEUE_PREFIX', 'REDIS_URL'].sort(),
  )
  t.match(error.message, /DATABASE_URL: is required/)
  t.match(error.message, /PORT: is invalid/)
})

t.test('empty strings count as missing', async (t) => {
  const error = t.throws(() => loadConfig({ ...valid, REDIS_URL: '' })) as unknown as ConfigError
  t.same(error.variables, ['REDIS_URL'])
})

t.test('a wrong URL scheme is refused', async (t) => {
  const error = t.throws(() => loadConfig({ ...valid, DATABASE_URL: 'mysql://x' })) as unknown as ConfigError
  t.same(error.variables, ['DATABASE_URL'])
})

t.test('the database part can be loaded alone', async (t) => {
  t.same(loadDatabaseConfig({ DATABASE_URL: valid.DATABASE_URL }).databaseUrl, valid.DATABASE_URL)
  const error = t.throws(() => loadDatabaseConfig({ DATABASE_SCHEMA: 'Bad-Name' })) as unknown as ConfigError
  t.same(error.variables.sort(), ['DATABASE_SCHEMA', 'DATABASE_URL'])
})

t.test(
  'numeric bounds are enforced (the access token lifetime the OpenAPI document states among them)',
  async (t) => {
    const error = t.throws(() =>
      loadConfig({
        ...valid,
        ACCESS_TOKEN_TTL_SECONDS: '86401',
        BODY_LIMIT_BYTES: '1000',
        STATS_MIN_CELL: '0',
      }),
    ) as unknown as ConfigError
    t.same([...error.variables].sort(), ['ACCESS_TOKEN_TTL_SECONDS', 'BODY_LIMIT_BYTES', 'STATS_MIN_CELL'])
    t.match(error.message, /ACCESS_TOKEN_TTL_SECONDS: is above 86400/)
    t.match(error.message, /BODY_LIMIT_BYTES: is below 1024/)
    t.equal(loadConfig({ ...valid, ACCESS_TOKEN_TTL_SECONDS: '86400' }).accessTokenTtlSeconds, 86_400)
    t.throws(
      () => loadDatabaseConfig({ DATABASE_URL: valid.DATABASE_URL, DATABASE_POOL_MAX: '0' }),
      ConfigError,
    )
  },
)

t.test(
  'each refused variable is named with the values it may take, never with the value given',
  async (t) => {
    const error = t.throws(() =>
      loadConfig({
        ...valid,
        DATABASE_URL: 'mysql://hub:s3cret@db/trm',
        LOG_LEVEL: 'loud',
        LOG_PRETTY: 'yes',
        TRUST_PROXY: '1',
        METRICS_PORT: 'none',
        QUEUE_PREFIX: 'trm',
        PORT: 'eighty',
        ACCESS_TOKEN_TTL_SECONDS: '30',
      }),
    ) as unknown as ConfigError
    const lines = error.message.split('\n').slice(1)
    t.same(
      lines.sort(),
      [
        '  ACCESS_TOKEN_TTL_SECONDS: is below 60: must be a whole number from 60 to 86400',
        '  DATABASE_URL: is invalid: must be a postgres:// or postgresql:// URL',
        '  LOG_LEVEL: is invalid: must be one of fatal, error, warn, info, debug, trace, silent',
        '  LOG_PRETTY: is invalid: must be one of true, false',
        '  METRICS_PORT: is invalid: must be a port number, or off',
        '  PORT: is invalid: must be a whole number from 0',
        '  QUEUE_PREFIX: is invalid: must be a Redis hash tag: 1 to 64 of A-Z a-z 0-9 _ . - in braces, such as {trm}',
        '  TRUST_PROXY: is invalid: must be one of true, false',
      ],
      'one line per variable, each with what it may be',
    )
    t.notMatch(error.message, /s3cret|loud|eighty/, 'values are not repeated: they may be secrets')
    const database = t.throws(() =>
      loadDatabaseConfig({ DATABASE_URL: valid.DATABASE_URL, WEBHOOK_ALLOW_LOOPBACK: 'on' }),
    ) as unknown as ConfigError
    t.match(database.message, 'WEBHOOK_ALLOW_LOOPBACK: is invalid: must be one of true, false')
  },
)
