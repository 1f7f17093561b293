import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { postgresAddress } from '../../src/lib/connection-errors.js'
import { testConfig } from '../helpers/env.js'
import { postgresProxy } from '../helpers/postgres.js'
import { startApiProcess } from '../helpers/processes.js'
import { freePort } from '../helpers/tcp-proxy.js'
import { eventually } from '../helpers/webhook-receiver.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
/**
 * Where the test gives up on a process that does not exit by itself (it is killed, and fails the
 * test by its signal): a bound, not a measure, far past a cold tsx start on a busy machine.
 */
const GIVE_UP_MS = 60_000

interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Runs a TypeScript entry point with only PATH, HOME and `env`, killing it if it is still running at the bound. */
function run(entry: string, args: string[], env: Record<string, string>): Promise<Exit> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8')
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8')
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), GIVE_UP_MS)
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

const BAD_ENV = { PORT: 'abc', LOG_LEVEL: 'loud' }

for (const [entry, name] of [
  ['src/server.ts', 'trm-hub'],
  ['src/worker.ts', 'trm-worker'],
] as const) {
  t.test(`${entry} refuses a bad environment, naming every bad variable at once`, async (t) => {
    const exit = await run(entry, [], BAD_ENV)
    t.equal(exit.signal, null, 'exited by itself')
    t.equal(exit.code, 1, 'exit status 1')
    t.ok(exit.stderr.startsWith(`${name}: `), 'the message names the process')
    t.equal(exit.stderr.match(/invalid configuration/g)?.length, 1, 'one message')
    for (const variable of ['DATABASE_URL', 'PORT', 'LOG_LEVEL', 'HUB_SIGNING_KEYS']) {
      t.match(exit.stderr, new RegExp(`^\\s+${variable}: `, 'm'), `names ${variable}`)
    }
    t.notMatch(exit.stderr, /^\s+at /m, 'no stack trace')
  })
}

t.test('trm migrate without DATABASE_URL is bad usage (2) naming it', async (t) => {
  const exit = await run('src/cli.ts', ['migrate'], {})
  t.equal(exit.signal, null, 'exited by itself')
  t.equal(exit.code, 2)
  t.match(exit.stderr, /^trm migrate: invalid configuration/)
  t.match(exit.stderr, /^ {2}DATABASE_URL: is required$/m)
  t.notMatch(exit.stderr, /^\s+at /m, 'no stack trace')
})

t.test('trm with an unknown command is bad usage (2) with the usage text', async (t) => {
  const exit = await run('src/cli.ts', ['frobnicate'], {})
  t.equal(exit.signal, null, 'exited by itself')
  t.equal(exit.code, 2)
  t.match(exit.stderr, /^trm: unknown command 'frobnicate'/)
  t.match(exit.stderr, /see trm --help/)
  t.equal(exit.stdout, '', 'nothing on stdout')
})

t.test(
  'the API started while Postgres is away says so in one log line, answers 503, and says when it is back',
  async (t) => {
    const { proxy, port: postgresPort, url } = await postgresProxy(t)
    await proxy.stop()
    const config = await testConfig({ DATABASE_URL: url })
    const api = await startApiProcess(t, config, await freePort())
    const logLines = () =>
      api
        .output()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { level: number; msg: string; postgres?: string })
    const where = postgresAddress(url)
    const away = await eventually(
      async () => logLines().find((line) => line.postgres === where && line.level === 50),
      'the log line saying Postgres does not answer',
      30_000,
    )
    t.equal(
      away.msg,
      `Postgres at ${where} does not answer (ECONNREFUSED: connection refused): the API answers 503 until it does, and keeps trying`,
    )
    t.notMatch(away.msg, /postgres@/, 'no user name or password in the line')
    const unready = await fetch(`${api.url}/health/ready`)
    t.equal(unready.status, 503, 'not ready while Postgres is away')
    t.equal(api.child.exitCode, null, 'still running')

    await proxy.start(postgresPort)
    const back = await eventually(
      async () => logLines().find((line) => line.postgres === where && line.level === 30),
      'the log line saying Postgres answers',
      30_000,
    )
    t.equal(back.msg, `Postgres at ${where} answers: the API serves requests`)
    t.equal((await fetch(`${api.url}/health/ready`)).status, 200, 'ready once Postgres answers')
  },
)
