import { readFile } from 'node:fs/promises'
import { connectionReason, postgresAddress } from '../lib/connection-errors.js'
import { isDatabaseUnavailable } from '../lib/pg-errors.js'
import { UsageError } from './usage.js'

/** Why a file could not be used, in words (never a bare ENOENT). */
function fileProblem(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ENOENT':
      return 'no such file'
    case 'EACCES':
    case 'EPERM':
      return 'not readable (permission denied)'
    case 'EISDIR':
      return 'is a directory, not a file'
    default:
      return error.message
  }
}

/**
 * Reads and parses a JSON file named on the command line; a missing, unreadable or non-JSON file is
 * bad usage, told in one sentence that names the option and the file.
 */
export async function readJsonOption(option: string, file: string): Promise<unknown> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new UsageError(`${option} ${file}: ${fileProblem(error as NodeJS.ErrnoException)}`)
  }
  try {
    return JSON.parse(text)
  } catch {
    throw new UsageError(`${option} ${file}: not a JSON file`)
  }
}

/**
 * One sentence for a Postgres the command cannot use (not there, refusing the login, no such
 * database, not migrated), or undefined when the error is something else.
 */
export function describePostgresError(
  error: unknown,
  { databaseUrl, databaseSchema }: { databaseUrl: string; databaseSchema?: string | undefined },
): string | undefined {
  const at = postgresAddress(databaseUrl)
  const code = (error as { code?: unknown })?.code
  if (code === '42P01') {
    return (
      `schema ${databaseSchema ?? 'public'} of Postgres at ${at} has no hub tables ` +
      `(${String((error as Error).message)}): run \`trm migrate\` first (\`npm run migrate\` for the dev database)`
    )
  }
  if (code === '3D000') {
    return `Postgres at ${at} has no such database: create it, or set DATABASE_URL to one that exists`
  }
  if (code === '28P01' || code === '28000') {
    return `Postgres at ${at} refused the login (${String((error as Error).message)}): check the user and password in DATABASE_URL`
  }
  const unreachable =
    isDatabaseUnavailable(error) || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ECONNREFUSED'
  if (!unreachable) return undefined
  return (
    `cannot reach Postgres at ${at} (${connectionReason(error)}): start it (for development, ` +
    '`npm run services` does), or set DATABASE_URL to one that answers'
  )
}
