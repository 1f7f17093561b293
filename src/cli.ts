#!/usr/bin/env node
import { CommanderError } from '@commander-js/extra-typings'
import { describePostgresError } from './cli/errors.js'
import { buildProgram } from './cli/program.js'
import { EXIT, UsageError } from './cli/usage.js'
import { ConfigError, loadDatabaseConfig } from './config.js'

/** What went wrong, in one line for the user, and the exit status it means. */
function failure(error: unknown): { message: string; status: number } {
  if (error instanceof UsageError || error instanceof ConfigError) {
    return { message: error.message, status: EXIT.usage }
  }
  const postgres = describePostgresError(error, databaseUrl())
  if (postgres) return { message: postgres, status: EXIT.failedCheck }
  const { code, path, syscall } = error as { code?: string; path?: string; syscall?: string }
  if (path && syscall && code)
    return { message: `cannot ${syscall} ${path} (${code})`, status: EXIT.failedCheck }
  return { message: error instanceof Error ? error.message : String(error), status: EXIT.failedCheck }
}

/** The configured DATABASE_URL, for naming the server in a message; empty when it is not valid. */
function databaseUrl(): string {
  try {
    return loadDatabaseConfig().databaseUrl
  } catch {
    return ''
  }
}

async function main(argv: string[]): Promise<number> {
  let status: number = EXIT.ok
  let name = 'trm'
  const program = buildProgram(async (command, path) => {
    name = path
    status = await command
  })
  try {
    await program.parseAsync(argv, { from: 'user' })
    return status
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander has written the message (and the help) already
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version'
        ? EXIT.ok
        : EXIT.usage
    }
    const { message, status: failed } = failure(error)
    process.stderr.write(`${name}: ${message}\n`)
    return failed
  }
}

process.exitCode = await main(process.argv.slice(2))
