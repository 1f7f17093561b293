import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { builtConsoleDirectory } from '../../src/plugins/console.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/**
 * The console as `npm run build` makes it (CI builds before testing); built here once when a test
 * runs without it, so `npx tap` on one file works from a fresh checkout.
 */
export async function ensureConsoleBuilt(): Promise<string> {
  const found = builtConsoleDirectory()
  if (found) return found
  await promisify(execFile)('npm', ['run', 'build:console'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 })
  const built = builtConsoleDirectory()
  if (!built) throw new Error('npm run build:console did not produce dist/console')
  return built
}
