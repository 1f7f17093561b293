// Writes openapi/openapi.json from the route schemas (`write`) or fails when the committed file differs (`check`).
import { readFile, writeFile } from 'node:fs/promises'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { generateHubKey } from '../src/lib/hub-keys.js'

export const OPENAPI_PATH = new URL('../openapi/openapi.json', import.meta.url)

/** Recursively sorted keys: the same document always serialises the same way, so diffs stay reviewable. */
export function stableStringify(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort)
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
      )
    }
    return v
  }
  return `${JSON.stringify(sort(value), null, 2)}\n`
}

export async function generateOpenApi(): Promise<string> {
  const config = loadConfig({
    DATABASE_URL: 'postgres://unused@127.0.0.1:1/unused',
    REDIS_URL: 'redis://127.0.0.1:1',
    HUB_SIGNING_KEYS: JSON.stringify({ keys: [await generateHubKey()] }),
    LOG_LEVEL: 'silent',
  })
  const app = await buildApp(config)
  await app.ready()
  const document = app.swagger()
  await app.close()
  return stableStringify(document)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const mode = process.argv[2]
  const generated = await generateOpenApi()
  if (mode === 'write') {
    await writeFile(OPENAPI_PATH, generated)
    process.stdout.write('wrote openapi/openapi.json\n')
  } else if (mode === 'check') {
    const committed = await readFile(OPENAPI_PATH, 'utf8').catch(() => '')
    if (committed !== generated) {
      process.stderr.write('openapi/openapi.json is out of date: run `npm run openapi` and commit it\n')
      process.exit(1)
    }
    process.stdout.write('openapi/openapi.json is up to date\n')
  } else {
    process.stderr.write('usage: tsx scripts/openapi.ts write|check\n')
    process.exit(2)
  }
}
