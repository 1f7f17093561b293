import { spawn } from 'node:child_process'
import { mkdtemp, readFile, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
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
    const again = await trm(['keys', 'generate', '--out', dir], {})
    t.equal(again.code, 1, 'existing keys are never overwritten')
    t.equal((await trm(['keys', 'generate'], {})).code, 2, '--out is required')
    t.equal((await trm(['keys', 'generate', '--out', dir, '--alg', 'RS256'], {})).code, 2)
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
    const bad = await trm(
      [
        ...args.slice(0, 4),
        '--country',
        'Belgium',
        '--kind',
        'ngo',
        '--jwks',
        path.join(dir, 'public.jwks.json'),
      ],
      dbEnv,
    )
    t.equal(bad.code, 2)
    t.match(bad.stderr, /\/country/)
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
  })
})
