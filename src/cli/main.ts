import { CommanderError } from '@commander-js/extra-typings'
import { describePostgresError } from './errors.js'
import { buildProgram } from './program.js'
import { EXIT, UsageError } from './usage.js'

/** Where `trm` writes its help and its errors (the process's streams; a test's buffers). */
export interface CliOutput {
  out: (text: string) => void
  err: (text: string) => void
}

const processOutput: CliOutput = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
}

/** What went wrong, in one line for the user, and the exit status it means. */
async function failure(error: unknown): Promise<{ message: string; status: number }> {
  // config.js is loaded here, not up front: --help and usage errors stay quick.
  const { ConfigError, loadDatabaseConfig } = await import('../config.js')
  if (error instanceof UsageError || error instanceof ConfigError) {
    return { message: error.message, status: EXIT.usage }
  }
  let database: { databaseUrl: string; databaseSchema?: string | undefined } = { databaseUrl: '' }
  try {
    database = loadDatabaseConfig()
  } catch {}
  const postgres = describePostgresError(error, database)
  if (postgres) return { message: postgres, status: EXIT.failedCheck }
  const { code, path, syscall } = error as { code?: string; path?: string; syscall?: string }
  if (path && syscall && code)
    return { message: `cannot ${syscall} ${path} (${code})`, status: EXIT.failedCheck }
  return { message: error instanceof Error ? error.message : String(error), status: EXIT.failedCheck }
}

/** Runs `trm` with these arguments and resolves to its exit status (0 done, 1 failed check, 2 bad usage). */
export async function runCli(argv: string[], output: CliOutput = processOutput): Promise<number> {
  let status: number = EXIT.ok
  let name = 'trm'
  const program = buildProgram(
    async (command, path) => {
      name = path
      status = await command
    },
    { writeOut: output.out, writeErr: output.err },
  )
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
    const { message, status: failed } = await failure(error)
    output.err(`${name}: ${message}\n`)
    return failed
  }
}
