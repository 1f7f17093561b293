import { execFile, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { createAgency } from '../../src/modules/agencies/agencies.service.js'
import { buildTestApp } from '../helpers/build-app.js'
import { freePort } from '../helpers/tcp-proxy.js'
import { startTestWorker } from '../helpers/worker.js'

// examples/python runs the whole exchange against a live hub (listening on loopback, with its
// worker): the client an integrator in another language starts from keeps working.

const EXAMPLE = fileURLToPath(new URL('../../examples/python/', import.meta.url))
// Debian's packages install for Debian's interpreter; a python3 earlier on PATH may be another one.
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'
const probe = spawnSync(PYTHON, ['-c', 'import jwcrypto, requests'], { encoding: 'utf8' })
const missing =
  probe.error || probe.status !== 0
    ? `${PYTHON} cannot import jwcrypto and requests (apt-get install python3-jwcrypto python3-requests; .ci/run does)`
    : undefined

function python(
  args: string[],
  timeoutMs = 120_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      PYTHON,
      args,
      {
        cwd: EXAMPLE,
        timeout: timeoutMs,
        env: { PATH: process.env['PATH'] ?? '', NO_PROXY: '127.0.0.1', PYTHONDONTWRITEBYTECODE: '1' },
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0
        resolve({ code, stdout, stderr })
      },
    )
  })
}

const WEBHOOK_STEPS = ['a webhook signed by the hub over its exact body', 'a changed body does not verify']
const STEPS = [
  'the referral is accepted (201)',
  'the receipt is signed by the hub over the digest of our payload bytes',
  'a replay gets 200 and the first receipt',
  'a JWE with another cty is refused at /sensitive',
  'the recipient opens the sensitive details',
  'accepted, with details encrypted to the sender',
  'each is in the tree of the checkpoint (inclusion proof)',
  'the checkpoint is signed by the hub',
]

t.test(
  'the Python agency client runs the whole exchange against a live hub',
  { skip: missing },
  async (t) => {
    const port = await freePort()
    const { app, config } = await buildTestApp(t, { PUBLIC_URL: `http://127.0.0.1:${port}` })
    await app.listen({ host: '127.0.0.1', port })
    await startTestWorker(t, config, app.hubKeys)
    const dir = await mkdtemp(path.join(tmpdir(), 'trm-python-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))

    /** Keys made by the Python client, registered as `trm agencies add` would. */
    async function register(name: string, alg: 'ES256' | 'EdDSA', country: string, ncp: boolean) {
      const keysDir = path.join(dir, name)
      const made = await python(['trm_agency.py', 'keys', '--out', keysDir, '--alg', alg])
      t.equal(made.code, 0, `keys for the ${name}: ${made.stderr}`)
      const jwks = JSON.parse(await readFile(path.join(keysDir, 'public.jwks.json'), 'utf8'))
      t.same(
        jwks.keys.map((k: Record<string, unknown>) => [k['use'], k['alg'], 'd' in k]),
        [
          ['sig', alg, false],
          ['enc', 'ECDH-ES+A256KW', false],
        ],
        `${name}: a public JWKS, no private member`,
      )
      const agency = await createAgency(
        { db: app.db, config: app.config },
        {
          name: `Fictional ${name} (Python example)`,
          country,
          kind: ncp ? 'national_agency' : 'ngo',
          nationalContactPoint: ncp,
          delivery: { mode: 'pull' },
          jwks,
        },
        { agencyId: 'test-setup' },
      )
      return { id: agency.id, keysDir }
    }

    for (const mode of ['webhook', 'pull'] as const) {
      t.test(`sender taking messages by ${mode}`, async (t) => {
        const [from, to] = mode === 'webhook' ? ['RO', 'DE'] : ['FR', 'BE']
        const sender = await register(`ngo-${mode}`, 'ES256', from, false)
        const recipient = await register(`ncp-${mode}`, 'EdDSA', to, true)
        const run = await python([
          'demo.py',
          '--hub',
          config.publicUrl,
          '--sender-id',
          sender.id,
          '--sender-keys',
          sender.keysDir,
          '--recipient-id',
          recipient.id,
          '--recipient-keys',
          recipient.keysDir,
          ...(mode === 'pull' ? ['--no-webhook'] : []),
        ])
        if (run.code !== 0) t.comment(`${run.stdout}\n${run.stderr}`)
        t.equal(run.code, 0, 'demo.py exits 0')
        const lines = run.stdout.split('\n').filter((line) => /^(not )?ok \d+ - /.test(line))
        t.notOk(
          lines.some((line) => line.startsWith('not ok')),
          lines.find((l) => l.startsWith('not ok')) ?? 'no check failed',
        )
        const passed = /^(\d+) checks passed$/m.exec(run.stdout)
        t.ok(passed, 'it reports how many checks passed')
        t.equal(Number(passed?.[1]), lines.length, `${lines.length} checks, each printed`)
        t.ok(
          lines.length >= (mode === 'webhook' ? 38 : 31),
          `the whole exchange was checked (${lines.length} checks)`,
        )
        for (const step of mode === 'webhook' ? [...STEPS, ...WEBHOOK_STEPS] : STEPS) {
          t.ok(
            lines.some((line) => line.endsWith(` - ${step}`)),
            step,
          )
        }
        const stored = await app.db
          .selectFrom('referrals')
          .select(['status', 'recipient_id'])
          .where('sender_id', '=', sender.id)
          .execute()
        t.same(stored, [{ status: 'accepted', recipient_id: recipient.id }], 'as the hub saw it')
      })
    }
  },
)

t.test(
  'jwcrypto reads every worked example of docs/protocol.md as the page says',
  { skip: missing },
  async (t) => {
    const run = await python(['check_examples.py'])
    if (run.code !== 0) t.comment(`${run.stdout}\n${run.stderr}`)
    t.equal(run.code, 0, 'check_examples.py exits 0')
    const lines = run.stdout.split('\n').filter((line) => /^(not )?ok \d+ - /.test(line))
    t.notOk(
      lines.some((line) => line.startsWith('not ok')),
      'no check failed',
    )
    t.match(run.stdout, new RegExp(`^${lines.length} checks passed$`, 'm'))
    t.ok(lines.length >= 15, `${lines.length} checks`)
  },
)
