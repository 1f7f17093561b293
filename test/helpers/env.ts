import { randomBytes } from 'node:crypto'
import { type Config, loadConfig } from '../../src/config.js'
import { generateHubKey } from '../../src/lib/hub-keys.js'

/** Postgres and Redis come from scripts/services.sh (npm test runs through it), else the standard ports. */
export const DATABASE_URL = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres'
export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379'

export const uniqueName = (prefix: string) => `${prefix}_${randomBytes(6).toString('hex')}`

let hubKeyJson: Promise<string> | undefined
/** One hub signing key per test process (generating is cheap, but keeping it stable helps debugging). */
export const testHubKeys = () => {
  hubKeyJson ??= generateHubKey().then((key) => JSON.stringify({ keys: [key] }))
  return hubKeyJson
}

export async function testConfig(overrides: Record<string, string> = {}): Promise<Config> {
  return loadConfig({
    DATABASE_URL,
    REDIS_URL,
    DATABASE_SCHEMA: uniqueName('t'),
    QUEUE_PREFIX: `{${uniqueName('test')}}`,
    PUBLIC_URL: 'http://hub.test',
    LOG_LEVEL: 'info',
    HUB_SIGNING_KEYS: await testHubKeys(),
    WEBHOOK_ALLOW_LOOPBACK: 'true',
    // A busy test machine stalls the event loop for seconds at a time; shedding is tested on its own.
    OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
    // Every injected request comes from 127.0.0.1, and tests of refusals send many 401s and tokens;
    // the budgets are tested on their own (test/integration/rate-limit.test.ts).
    RATE_LIMIT_AUTH_FAILURES_MAX: '1000000',
    RATE_LIMIT_TOKEN_MAX: '1000000',
    ...overrides,
  })
}
