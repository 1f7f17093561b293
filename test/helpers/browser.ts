import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { type Browser, chromium } from 'playwright-core'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const CHROMIUM = '/usr/bin/chromium'

/**
 * Debian's Chromium, installed by scripts/chromium.sh when missing. Resolves to the reason it is not
 * there when it cannot be installed (no apt-get, not root): the browser tests then skip, saying so.
 */
export async function findChromium(): Promise<{ path: string } | { missing: string }> {
  if (existsSync(CHROMIUM)) return { path: CHROMIUM }
  try {
    await promisify(execFile)('bash', ['scripts/chromium.sh'], { cwd: ROOT, timeout: 600_000 })
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim()
    return { missing: `${CHROMIUM} is missing and could not be installed: ${stderr || String(error)}` }
  }
  return existsSync(CHROMIUM) ? { path: CHROMIUM } : { missing: `${CHROMIUM} is still missing` }
}

/**
 * Headless Chromium in a fresh temporary profile (Playwright makes one per launch). Without the
 * background-networking switches Chromium keeps trying to reach Google's hosts.
 */
export function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-default-apps',
      '--disable-extensions',
    ],
  })
}
