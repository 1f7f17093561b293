import { spawn } from 'node:child_process'
import { mkdtemp, readFile, stat } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { sql } from 'kysely'
import t, { type Test } from 'tap'
import { buildTestApp } from '../helpers/build-app.js'

const CLI = new URL('../../src/cli.ts', import.meta.url).pathname

function trm(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))
  })
}

/** A loopback port nobody listens on (taken, then let go). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** The message is one line (one sentence after the command's name), without a stack or an errno dump. */
function oneLine(t: Test, stderr: string, command: string) {
  const lines = stderr.trimEnd().split('\n')
  t.equal(lines.length, 1, `one line: ${stderr}`)
  t.ok(lines[0]!.startsWith(`${command}: `), `named after ${command}`)
  t.notMatch(stderr, /^\s+at |errno|syscall|Error:/m, 'no stack and no raw error object')
}

t.test(
  'a hub key file that does not exist is a configuration error naming the variable and the file',
  async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'trm-missing-'))
    const result = await trm(['audit', 'verify'], {
      DATABASE_URL: 'postgres://postgres@127.0.0.1:1/postgres',
      HUB_SIGNING_KEYS_FILE: path.join(dir, 'hub-keys.json'),
    })
    t.equal(result.code, 2, 'bad usage')
    t.match(result.stderr, /^trm audit verify: invalid configuration \(1 variable\(s\)\):\n/)
    t.match(result.stderr, `  HUB_SIGNING_KEYS_FILE: ${path.join(dir, 'hub-keys.json')} does not exist`)
    t.notMatch(result.stderr, /ENOENT|^\s+at /m)
  },
)

t.test('an unreachable Postgres is one sentence naming where and how to start one', async (t) => {
  const port = await closedPort()
  const result = await trm(['migrate'], { DATABASE_URL: `postgres://trm:s3cret@127.0.0.1:${port}/trm_dev` })
  t.equal(result.code, 1)
  oneLine(t, result.stderr, 'trm migrate')
  t.match(
    result.stderr,
    `cannot reach Postgres at 127.0.0.1:${port}/trm_dev (ECONNREFUSED: connection refused)`,
  )
  t.match(result.stderr, 'npm run services')
  t.notMatch(result.stderr, /s3cret/, 'the password stays out of the message')
})

t.test('the demo without a hub says which URL did not answer and how to start one', async (t) => {
  const port = await closedPort()
  const result = await trm(['demo', '--url', `http://127.0.0.1:${port}`], {
    DATABASE_URL: 'postgres://postgres@127.0.0.1:1/postgres',
  })
  t.equal(result.code, 1)
  oneLine(t, result.stderr, 'trm demo')
  t.match(result.stderr, `no hub answers at http://127.0.0.1:${port} (ECONNREFUSED: connection refused)`)
  t.match(result.stderr, 'npm run dev')
  t.notMatch(result.stderr, /fetch failed/)
})

t.test('the trm command', async (t) => {
  const { app, config } = await buildTestApp(t)
  const dbEnv = { DATABASE_URL: config.databaseUrl, DATABASE_SCHEMA: config.databaseSchema! }
  const dir = await mkdtemp(path.join(tmpdir(), 'trm-keys-'))

  t.test('keys generate writes the three files, private ones readable by the owner only', async (t) => {
    const result = await trm(['keys', 'generate', '--out', dir, '--alg', 'EdDSA'], {})
    t.equal(result.code, 0, result.stderr)
    const signing = JSON.parse(await readFile(path.join(dir, 'signing.private.jwk.json'), 'utf8'))
    const encryption = JSON.parse(await readFile(path.join(dir, 'encryption.private.jwk.json'), 'utf8'))
    const jwks = JSON.parse(await readFile(path.join(dir, 'public.jwks.json'), 'utf8'))
    t.match(signing, { kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' })
    t.ok(signing.d)
    t.match(encryption, { kty: 'EC', crv: 'P-256', alg: 'ECDH-ES+A256KW', use: 'enc' })
    t.equal(jwks.keys.length, 2)
    t.ok(
      jwks.keys.every((k: Record<string, unknown>) => !('d' in k)),
      'the JWKS is public only',
    )
    t.equal((await stat(path.join(dir, 'signing.private.jwk.json'))).mode & 0o077, 0)
    const before = await readFile(path.join(dir, 'signing.private.jwk.json'), 'utf8')
    const again = await trm(['keys', 'generate', '--out', dir], {})
    t.equal(again.code, 1, 'existing keys are never overwritten')
    t.match(
      again.stderr,
      /already holds signing\.private\.jwk\.json, encryption\.private\.jwk\.json, public\.jwks\.json/,
    )
    t.equal(
      await readFile(path.join(dir, 'signing.private.jwk.json'), 'utf8'),
      before,
      'the key is unchanged',
    )
  })

  t.test('agencies add registers an agency in the database and prints it as JSON', async (t) => {
    const args = [
      'agencies',
      'add',
      '--name',
      'Fictional Operator',
      '--country',
      'BE',
      '--kind',
      'hub_operator',
    ]
    const result = await trm([...args, '--jwks', path.join(dir, 'public.jwks.json'), '--json'], dbEnv)
    t.equal(result.code, 0, result.stderr)
    const agency = JSON.parse(result.stdout)
    t.match(agency, { name: 'Fictional Operator', country: 'BE', kind: 'hub_operator', status: 'active' })
    const row = await app.db.selectFrom('agencies').selectAll().where('id', '=', agency.id).executeTakeFirst()
    t.ok(row)
    const privateKey = await trm(
      [
        'agencies',
        'add',
        '--name',
        'X',
        '--country',
        'BE',
        '--kind',
        'ngo',
        '--jwks',
        path.join(dir, 'signing.private.jwk.json'),
      ],
      dbEnv,
    )
    t.equal(privateKey.code, 2, 'a file that is not a JWKS is refused')
  })

  t.test('demo runs a referral end to end against a listening hub', async (t) => {
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as { port: number }
    const result = await trm(['demo', '--url', `http://127.0.0.1:${port}`], dbEnv)
    t.equal(result.code, 0, result.stderr)
    t.match(result.stdout, /RO submitted a signed referral/)
    t.match(result.stdout, /hub receipt verified/)
    t.match(result.stdout, /final state: accepted/)
    t.match(result.stdout, /DE handed the case on to the NGO/)
    t.match(
      result.stdout,
      /RO's inbox says who took the case on\n {4}ngo [0-9a-f-]{36} in DE; links below RO's referral: 1/,
    )
  })

  t.test(
    'demo against a hub on another database says so, and an unmigrated schema says to migrate',
    async (t) => {
      const other = await buildTestApp(t)
      const { port } = app.server.address() as { port: number }
      const otherEnv = {
        DATABASE_URL: other.config.databaseUrl,
        DATABASE_SCHEMA: other.config.databaseSchema!,
      }
      const result = await trm(['demo', '--url', `http://127.0.0.1:${port}`], otherEnv)
      t.equal(result.code, 1)
      oneLine(t, result.stderr, 'trm demo')
      t.match(result.stderr, `does not know the agencies the demo registered in Postgres`)
      t.match(result.stderr, `schema ${other.config.databaseSchema}`)
      t.match(result.stderr, 'npm run demo')

      const empty = `${other.config.databaseSchema}_empty`
      await sql`create schema ${sql.id(empty)}`.execute(app.db)
      t.teardown(() => sql`drop schema ${sql.id(empty)} cascade`.execute(app.db))
      const unmigrated = await trm(
        [
          'agencies',
          'add',
          '--name',
          'X',
          '--country',
          'BE',
          '--kind',
          'ngo',
          '--jwks',
          path.join(dir, 'public.jwks.json'),
        ],
        { DATABASE_URL: config.databaseUrl, DATABASE_SCHEMA: empty },
      )
      t.equal(unmigrated.code, 1)
      oneLine(t, unmigrated.stderr, 'trm agencies add')
      t.match(unmigrated.stderr, `schema ${empty} of Postgres`)
      t.match(unmigrated.stderr, 'trm migrate')
    },
  )
})
