#!/usr/bin/env node
import { agenciesAddCommand } from './cli/agencies.js'
import { auditVerifyCommand } from './cli/audit.js'
import { demoCommand } from './cli/demo.js'
import { keysGenerateCommand } from './cli/keys.js'
import { migrateCommand } from './cli/migrate.js'
import { retentionCommand } from './cli/retention.js'
import { EXIT, USAGE, UsageError } from './cli/usage.js'
import { ConfigError } from './config.js'

type Command = (args: string[]) => Promise<number>

const COMMANDS: Record<string, Command> = {
  migrate: () => migrateCommand(),
  'keys generate': keysGenerateCommand,
  'agencies add': agenciesAddCommand,
  retention: retentionCommand,
  demo: demoCommand,
  'audit verify': auditVerifyCommand,
}

async function main(argv: string[]): Promise<number> {
  const [first, second, ...rest] = argv
  if (!first || first === '--help' || first === 'help') {
    process.stdout.write(`${USAGE}\n`)
    return first ? EXIT.ok : EXIT.usage
  }
  const command = COMMANDS[`${first} ${second ?? ''}`.trim()] ?? COMMANDS[first]
  if (!command) throw new UsageError(`unknown command: ${[first, second].filter(Boolean).join(' ')}`)
  const args = COMMANDS[`${first} ${second ?? ''}`.trim()]
    ? rest
    : [second, ...rest].filter((a): a is string => !!a)
  return command(args)
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`trm: ${(error as Error).message}\n\n${USAGE}\n`)
      process.exitCode = EXIT.usage
    } else if (error instanceof ConfigError) {
      process.stderr.write(`trm: ${error.message}\n`)
      process.exitCode = EXIT.usage
    } else {
      process.stderr.write(`trm: ${error instanceof Error ? error.message : String(error)}\n`)
      process.exitCode = EXIT.failedCheck
    }
  },
)
