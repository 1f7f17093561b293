import {
  Command,
  type CommandUnknownOpts,
  Help,
  InvalidArgumentError,
  Option,
} from '@commander-js/extra-typings'
import { AGENCY_KINDS } from '../modules/agencies/agencies.schemas.js'

const CONFIGURATION = `
Commands that use the database read DATABASE_URL and DATABASE_SCHEMA, and the others the server's
variables, from the environment (see the README, Configuration). \`npm run trm -- <command>\` sets
those of \`npm run dev\`.
Exit status: 0 success, 1 failed check, 2 bad usage.`

const KEY_ALGORITHMS = ['ES256', 'EdDSA'] as const

function countryCode(value: string): string {
  if (!/^[A-Z]{2}$/.test(value)) {
    throw new InvalidArgumentError('It must be an ISO 3166-1 alpha-2 code in capitals, such as DE or RO.')
  }
  return value
}

function seq(value: string): number {
  if (!/^[1-9][0-9]{0,14}$/.test(value))
    throw new InvalidArgumentError('It must be a seq: a whole number from 1.')
  return Number(value)
}

function seconds(value: string): number {
  if (!/^[1-9][0-9]{0,5}$/.test(value))
    throw new InvalidArgumentError('It must be a whole number of seconds from 1.')
  return Number(value)
}

function hubUrl(value: string): string {
  if (!/^https?:\/\/[^/]+/.test(value)) {
    throw new InvalidArgumentError('It must be an http:// or https:// URL, such as http://localhost:3000.')
  }
  return value
}

/**
 * The `trm` command line: every command with its options, its --help and its checks; the work is
 * done by the command modules, loaded when their command runs (so that --help and usage errors do
 * not load the hub). `run` receives each command's exit status.
 */
export function buildProgram(
  run: (status: Promise<number>, command: string) => Promise<void>,
  streams: { writeOut: (text: string) => void; writeErr: (text: string) => void },
): Command {
  let current = 'trm'
  const program = new Command('trm')
    .description('Operate a TRM Hub: migrations, agency keys and registration, audit, retention, a demo.')
    .usage('<command> [options]')
    .exitOverride()
    .configureHelp(FLAT_HELP)
    .hook('preAction', (_, action) => {
      current = commandPath(action)
    })
    .addHelpText('after', CONFIGURATION)

  program
    .command('migrate')
    .description('apply pending database migrations (DATABASE_URL, DATABASE_SCHEMA)')
    .action(() =>
      run(
        import('./migrate.js').then((m) => m.migrateCommand()),
        current,
      ),
    )

  program
    .command('keys')
    .description("an agency's own keys")
    .command('generate')
    .description(
      'write signing.private.jwk.json, encryption.private.jwk.json and public.jwks.json for a new agency',
    )
    .requiredOption(
      '--out <dir>',
      'directory for the three files, created if missing (keep it outside any repository)',
    )
    .addOption(
      new Option('--alg <alg>', 'signature algorithm of the signing key')
        .choices(KEY_ALGORITHMS)
        .default('ES256'),
    )
    .addHelpText('after', '\nExample:\n  trm keys generate --out ~/trm-keys/ngo-ro --alg EdDSA')
    .action((options) =>
      run(
        import('./keys.js').then((m) => m.keysGenerateCommand(options)),
        current,
      ),
    )

  program
    .command('agencies')
    .description('the directory of agencies')
    .command('add')
    .description('register an agency directly in the database (how the first hub_operator is bootstrapped)')
    .requiredOption('--name <name>', "the agency's name")
    .requiredOption('--country <CC>', 'its country, ISO 3166-1 alpha-2 (DE, RO, ...)', countryCode)
    .addOption(new Option('--kind <kind>', 'what the agency is').choices(AGENCY_KINDS).makeOptionMandatory())
    .requiredOption('--jwks <file>', 'its public JWKS (public.jwks.json from `trm keys generate`)')
    .option('--ncp', "the country's national contact point", false)
    .option('--push-url <url>', 'deliver its messages to this https webhook (default: it polls its inbox)')
    .option('--json', 'print the new agency as JSON', false)
    .addHelpText(
      'after',
      '\nExample:\n  trm agencies add --name "Hub operator" --country BE --kind hub_operator --jwks public.jwks.json',
    )
    .action((options) =>
      run(
        import('./agencies.js').then((m) => m.agenciesAddCommand(options)),
        current,
      ),
    )

  program
    .command('audit')
    .description('the audit log')
    .command('verify')
    .description(
      'recompute the audit hash chain from the database and check every signed checkpoint; ' +
        'exit 1 names the first broken seq',
    )
    .option('--from <seq>', 'start at this seq (at a signed checkpoint) instead of the first event', seq)
    .option('--jwks <file>', "check checkpoints with this public JWKS (the hub's /.well-known/jwks.json)")
    .option('--json', 'print the result as JSON', false)
    .addHelpText(
      'after',
      '\nWithout --jwks the hub keys come from HUB_SIGNING_KEYS or HUB_SIGNING_KEYS_FILE, as for the server.',
    )
    .action((options) =>
      run(
        import('./audit.js').then((m) => m.auditVerifyCommand(options)),
        current,
      ),
    )

  program
    .command('retention')
    .description('remove payloads past RETENTION_DAYS now, from the tables and their files (erased ones too)')
    .option('--dry-run', 'list what would be purged, change nothing', false)
    .action((options) =>
      run(
        import('./retention.js').then((m) => m.retentionCommand(options)),
        current,
      ),
    )

  program
    .command('demo')
    .description('run a referral between two fresh, invented agencies against a running hub')
    .option('--url <url>', "the hub's address", hubUrl, 'http://localhost:3000')
    .addHelpText(
      'after',
      '\nThe agencies are registered in the database the hub uses (DATABASE_URL, DATABASE_SCHEMA).',
    )
    .action((options) =>
      run(
        import('./demo.js').then((m) => m.demoCommand(options)),
        current,
      ),
    )

  program
    .command('witness')
    .description(
      "witness the hub's audit log: cosign its latest checkpoint if it extends the last one cosigned; " +
        'exit 1 saying why when it does not (a fork or a rollback)',
    )
    .requiredOption('--hub <url>', "the hub's address", hubUrl)
    .requiredOption('--key <file>', "the witness's Ed25519 private key (JWK, or PKCS#8 PEM)")
    .requiredOption('--state <file>', 'the JSON file of the last cosigned checkpoint (written atomically)')
    .option('--once', 'check and cosign once, then exit (for cron)', false)
    .option('--name <name>', "the witness's key name, such as witness.ncp.example.ro (first run)")
    .option(
      '--log-key <vkey>',
      "the hub's checkpoint verifier key (first run, or when the operator rotates it)",
    )
    .option('--interval <seconds>', 'seconds between checks without --once', seconds, 60)
    .addHelpText(
      'after',
      '\nExample (first run; later runs need only --hub, --key and --state):\n' +
        '  trm witness --hub https://hub.example.eu --key witness.jwk --state witness.json \\\n' +
        '    --name witness.ncp.example.ro --log-key "hub.example.eu/audit+1a2b3c4d+AX..." --once',
    )
    .action((options) =>
      run(
        import('./witness.js').then((m) => m.witnessCommand(options)),
        current,
      ),
    )

  for (const command of everyCommand(program)) {
    const name = commandPath(command)
    command
      .configureOutput({
        ...streams,
        outputError: (message, write) => write(`${name}: ${message.replace(/^error: /, '')}`),
      })
      .showHelpAfterError(`(see ${name} --help)`)
  }
  return program
}

type AnyCommand = CommandUnknownOpts

function* everyCommand(command: AnyCommand): Generator<AnyCommand> {
  yield command
  for (const sub of command.commands) yield* everyCommand(sub)
}

const commandPath = (command: AnyCommand): string =>
  command.parent ? `${commandPath(command.parent)} ${command.name()}` : command.name()

/**
 * Help lists the commands one can run (`keys generate`, not `keys`), each with the usage of its
 * options, so `trm --help` alone shows every command.
 */
const FLAT_HELP: Partial<Help> = {
  visibleCommands(this: Help, command) {
    return Help.prototype.visibleCommands
      .call(this, command)
      .flatMap((sub) =>
        sub.commands.length > 0
          ? Help.prototype.visibleCommands.call(this, sub).filter((leaf) => leaf.name() !== 'help')
          : [sub],
      )
  },
  subcommandTerm(this: Help, command) {
    const term = Help.prototype.subcommandTerm.call(this, command)
    const group = command.parent?.parent ? command.parent : undefined
    return group ? `${group.name()} ${term}` : term
  },
}
