import { spawn } from 'node:child_process'
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import t from 'tap'
import { freePort } from '../helpers/tcp-proxy.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** Runs a repository script with only PATH, HOME and `env` (no DATABASE_URL or REDIS_URL of the test's). */
function script(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', args, {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d))
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

const answers = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.destroy()
      resolve(true)
    })
    socket.on('error', () => resolve(false))
  })

t.test(
  'the dev environment uses a database and a Redis DB of its own, and services:stop stops what it started',
  async (t) => {
    // Private servers in a directory and on ports of this test's, as on a machine without any.
    const data = await mkdtemp(path.join(tmpdir(), 'trm-services-'))
    await chmod(data, 0o755) // initdb runs as the postgres user
    const pgPort = await freePort()
    const redisPort = await freePort()
    const env = {
      TRM_SERVICES_SKIP_STANDARD: '1',
      TRM_SERVICES_DATA: data,
      TRM_SERVICES_PG_PORT: String(pgPort),
      TRM_SERVICES_REDIS_PORT: String(redisPort),
    }
    t.teardown(async () => {
      await script(['scripts/services.sh', 'stop'], env)
      await rm(data, { recursive: true, force: true })
    })

    const printEnv =
      'for (const v of ["DATABASE_URL", "REDIS_URL", "DATABASE_SCHEMA", "HUB_SIGNING_KEYS_FILE"]) console.log(v + "=" + process.env[v])'
    const dev = await script(['scripts/dev-env.sh', 'node', '-e', printEnv], env)
    t.equal(dev.code, 0, dev.stderr)
    const seen = Object.fromEntries(
      dev.stdout
        .trim()
        .split('\n')
        .map((line) => line.split(/=(.*)/s).slice(0, 2)),
    )
    t.same(
      seen,
      {
        DATABASE_URL: `postgres://postgres@127.0.0.1:${pgPort}/trm_dev`,
        REDIS_URL: `redis://127.0.0.1:${redisPort}/1`,
        DATABASE_SCHEMA: 'trm_dev',
        HUB_SIGNING_KEYS_FILE: path.join(ROOT, '.data/hub-signing-keys.json'),
      },
      'its own database (not postgres), Redis DB 1 (not 0), the dev schema and key file',
    )
    const client = new pg.Client({ connectionString: seen['DATABASE_URL'] })
    await client.connect()
    const { rows } = await client.query<{ db: string }>('select current_database() as db')
    await client.end()
    t.same(rows, [{ db: 'trm_dev' }], 'the dev database was created')

    const kept = await script(['scripts/dev-env.sh', 'node', '-e', printEnv], {
      ...env,
      DATABASE_URL: `postgres://postgres@127.0.0.1:${pgPort}/postgres`,
      DATABASE_SCHEMA: 'mine',
    })
    t.match(
      kept.stdout,
      `DATABASE_URL=postgres://postgres@127.0.0.1:${pgPort}/postgres\n`,
      'a DATABASE_URL set is kept',
    )
    t.match(kept.stdout, 'DATABASE_SCHEMA=mine\n', 'so is a DATABASE_SCHEMA')

    // `npm run trm` is dev-env.sh then trm.sh, which runs in the directory npm was started from.
    const scripts = (
      JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as {
        scripts: Record<string, string>
      }
    ).scripts
    for (const name of ['dev', 'trm', 'demo', 'migrate']) {
      t.match(scripts[name], /^bash scripts\/dev-env\.sh /, `npm run ${name} runs in the dev environment`)
    }
    t.equal(scripts['trm'], 'bash scripts/dev-env.sh bash scripts/trm.sh')
    const caller = await mkdtemp(path.join(tmpdir(), 'trm-caller-'))
    t.teardown(() => rm(caller, { recursive: true, force: true }))
    const keys = await script(
      ['scripts/dev-env.sh', 'bash', 'scripts/trm.sh', 'keys', 'generate', '--out', 'agency'],
      {
        ...env,
        INIT_CWD: caller,
      },
    )
    t.equal(keys.code, 0, keys.stderr)
    t.ok(
      (await stat(path.join(caller, 'agency', 'public.jwks.json'))).isFile(),
      'a relative --out is taken from the directory npm was run in',
    )

    const stop = await script(['scripts/services.sh', 'stop'], env)
    t.equal(stop.code, 0, stop.stderr)
    t.equal(stop.stdout, '', 'nothing on stdout')
    t.match(stop.stderr, `stopped postgres on 127.0.0.1:${pgPort}`)
    t.match(stop.stderr, `stopped redis on 127.0.0.1:${redisPort}`)
    t.notOk(await answers(pgPort), 'postgres is gone')
    t.notOk(await answers(redisPort), 'redis is gone')
    const again = await script(['scripts/services.sh', 'stop'], env)
    t.equal(again.code, 0)
    t.match(again.stderr, 'no private postgres running')
    t.match(again.stderr, 'no private redis running')
  },
)
