import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'

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
  t.match(exit.stderr, /^  DATABASE_URL: is required$/m)
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
