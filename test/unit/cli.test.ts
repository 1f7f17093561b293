import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { runCli } from '../../src/cli/main.js'
import { AGENCY_KINDS } from '../../src/modules/agencies/agencies.schemas.js'

/** Runs `trm` in this process, as the command line does, and collects what it writes. */
async function trm(...args: string[]) {
  let stdout = ''
  let stderr = ''
  const code = await runCli(args, { out: (text) => (stdout += text), err: (text) => (stderr += text) })
  return { code, stdout, stderr }
}

const COMMANDS = ['migrate', 'keys generate', 'agencies add', 'audit verify', 'retention', 'demo', 'witness']

t.test('trm --help lists every command one can run, with the exit statuses', async (t) => {
  const help = await trm('--help')
  t.equal(help.code, 0)
  t.equal(help.stderr, '')
  for (const command of COMMANDS)
    t.match(help.stdout, new RegExp(`^  ${command}\\b`, 'm'), `lists ${command}`)
  t.match(help.stdout, 'Exit status: 0 success, 1 failed check, 2 bad usage.')
})

t.test('every command has its own --help naming its options', async (t) => {
  const options: Record<string, string[]> = {
    migrate: [],
    'keys generate': ['--out <dir>', '--alg <alg>'],
    'agencies add': [
      '--name <name>',
      '--country <CC>',
      '--kind <kind>',
      '--jwks <file>',
      '--ncp',
      '--push-url <url>',
      '--json',
    ],
    'audit verify': ['--from <seq>', '--jwks <file>', '--json'],
    retention: ['--dry-run'],
    demo: ['--url <url>'],
    witness: ['--hub <url>', '--key <file>', '--state <file>', '--once', '--name <name>', '--log-key <vkey>'],
  }
  for (const command of COMMANDS) {
    const help = await trm(...command.split(' '), '--help')
    t.equal(help.code, 0, `${command} --help succeeds`)
    t.match(help.stdout, new RegExp(`^Usage: trm ${command}\\b`), `${command} --help shows its usage`)
    for (const option of options[command]!) t.match(help.stdout, option, `${command} --help names ${option}`)
  }
  const keys = await trm('keys', 'generate', '--help')
  t.match(keys.stdout, /\(choices: "ES256",\s+"EdDSA", default: "ES256"\)/, 'with the allowed values')
  const add = await trm('agencies', 'add', '--help')
  for (const kind of AGENCY_KINDS) t.match(add.stdout, kind, `agencies add --help names the kind ${kind}`)
})

t.test('no command, an unknown command or option, or a missing option is bad usage (2)', async (t) => {
  const bare = await trm()
  t.equal(bare.code, 2)
  t.match(bare.stderr, /^Usage: trm <command> \[options\]/, 'the help, on stderr')
  t.equal(bare.stdout, '')
  const unknown = await trm('frobnicate')
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /^trm: unknown command 'frobnicate'\n\(see trm --help\)/)
  const option = await trm('retention', '--now')
  t.equal(option.code, 2)
  t.match(option.stderr, /^trm retention: unknown option '--now'\n\(see trm retention --help\)/)
  const required = await trm('keys', 'generate')
  t.equal(required.code, 2)
  t.match(required.stderr, /^trm keys generate: required option '--out <dir>' not specified/)
})

t.test('a value outside a list is refused naming every allowed value', async (t) => {
  const kind = await trm(
    'agencies',
    'add',
    '--name',
    'X',
    '--country',
    'BE',
    '--kind',
    'charity',
    '--jwks',
    'x.json',
  )
  t.equal(kind.code, 2)
  t.match(
    kind.stderr,
    /^trm agencies add: option '--kind <kind>' argument 'charity' is invalid\. Allowed choices are /,
  )
  for (const allowed of AGENCY_KINDS) t.match(kind.stderr, allowed, `names ${allowed}`)
  t.notMatch(kind.stderr, /constant/)
  const alg = await trm('keys', 'generate', '--out', 'x', '--alg', 'RS256')
  t.equal(alg.code, 2)
  t.match(alg.stderr, "option '--alg <alg>' argument 'RS256' is invalid. Allowed choices are ES256, EdDSA.")
  const country = await trm(
    'agencies',
    'add',
    '--name',
    'X',
    '--country',
    'Belgium',
    '--kind',
    'ngo',
    '--jwks',
    'x.json',
  )
  t.equal(country.code, 2)
  t.match(country.stderr, 'It must be an ISO 3166-1 alpha-2 code in capitals, such as DE or RO.')
  const from = await trm('audit', 'verify', '--from', '0')
  t.equal(from.code, 2)
  t.match(from.stderr, 'It must be a seq: a whole number from 1.')
  const url = await trm('demo', '--url', 'localhost:3000')
  t.equal(url.code, 2)
  t.match(url.stderr, 'It must be an http:// or https:// URL')
})

t.test('a file named on the command line that is missing or not JSON is one sentence (2)', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'trm-cli-'))
  const missing = path.join(dir, 'public.jwks.json')
  const add = ['agencies', 'add', '--name', 'X', '--country', 'BE', '--kind', 'ngo', '--jwks']
  const absent = await trm(...add, missing)
  t.equal(absent.code, 2)
  t.equal(absent.stderr, `trm agencies add: --jwks ${missing}: no such file\n`)
  await writeFile(path.join(dir, 'broken.json'), '{ not json')
  const broken = await trm(...add, path.join(dir, 'broken.json'))
  t.equal(broken.code, 2)
  t.equal(broken.stderr, `trm agencies add: --jwks ${path.join(dir, 'broken.json')}: not a JSON file\n`)
  const directory = await trm(...add, dir)
  t.equal(directory.code, 2)
  t.equal(directory.stderr, `trm agencies add: --jwks ${dir}: is a directory, not a file\n`)
})
