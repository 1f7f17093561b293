import { readFile } from 'node:fs/promises'
import t from 'tap'
import { parse } from 'yaml'

interface Service {
  image?: string
  build?: string | { context?: string; dockerfile?: string }
  command?: string | string[]
  environment?: Record<string, string | number | boolean | null> | string[]
  healthcheck?: { test?: string | string[]; disable?: boolean }
  depends_on?: string[] | Record<string, { condition?: string }>
  restart?: string
}

const compose = parse(await readFile(new URL('../../docker-compose.yml', import.meta.url), 'utf8')) as {
  services?: Record<string, Service>
}
const dockerfile = await readFile(new URL('../../docker/Dockerfile', import.meta.url), 'utf8')

const services = compose.services ?? {}
const service = (name: string): Service => services[name] ?? {}
const hubServices = ['migrate', 'api', 'worker']
const longRunning = ['postgres', 'redis', 'api', 'worker']

function environment(name: string): Record<string, string> {
  const env = service(name).environment ?? {}
  const entries = Array.isArray(env)
    ? env.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)])
    : Object.entries(env).map(([key, value]) => [key, String(value ?? '')])
  return Object.fromEntries(entries)
}

function condition(name: string, dependency: string): string | undefined {
  const dependsOn = service(name).depends_on
  return Array.isArray(dependsOn) ? undefined : dependsOn?.[dependency]?.condition
}

/** Dockerfile instructions as [KEYWORD, rest], comments and blank lines dropped, continuations joined. */
const instructions = dockerfile
  .replace(/\\\r?\n/g, ' ')
  .split(/\r?\n/)
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'))
  .map((line) => {
    const [keyword = '', ...rest] = line.split(/\s+/)
    return [keyword.toUpperCase(), rest.join(' ')] as const
  })

t.test('the compose file declares the five services', async (t) => {
  for (const name of ['postgres', 'redis', ...hubServices]) {
    t.ok(Object.hasOwn(services, name), `service ${name}`)
  }
})

t.test('postgres and redis run published images, the hub services build docker/Dockerfile', async (t) => {
  t.match(service('postgres').image, /^postgres:\d+/, 'postgres image')
  t.match(service('redis').image, /^redis:\d+/, 'redis image')
  t.notOk(service('postgres').build, 'postgres is not built here')
  t.notOk(service('redis').build, 'redis is not built here')
  for (const name of hubServices) {
    const build = service(name).build
    t.same(
      typeof build === 'object' ? build : { context: build },
      { context: '.', dockerfile: 'docker/Dockerfile' },
      `${name} builds docker/Dockerfile from the repository root`,
    )
  }
})

t.test('every long-running service has a healthcheck with a command', async (t) => {
  for (const name of longRunning) {
    const healthcheck = service(name).healthcheck
    t.notOk(healthcheck?.disable, `${name} healthcheck enabled`)
    const test = healthcheck?.test
    const command = Array.isArray(test) ? test : ['CMD-SHELL', test ?? '']
    t.ok(['CMD', 'CMD-SHELL'].includes(command[0] ?? ''), `${name} healthcheck runs a command`)
    t.match(command.slice(1).join(' '), /\S/, `${name} healthcheck command is not empty`)
  }
  const apiCheck = service('api').healthcheck?.test
  t.match(
    [apiCheck ?? ''].flat().join(' '),
    /\/health\/ready\b/,
    'api is healthy when ready, not merely live',
  )
})

t.test('redis persists jobs and never evicts them', async (t) => {
  const command = [service('redis').command ?? ''].flat().join(' ')
  t.match(command, /--appendonly\s+yes\b/)
  t.match(command, /--maxmemory-policy\s+noeviction\b/)
})

t.test('migrations run once, after postgres is healthy, before the api and worker start', async (t) => {
  t.equal(service('migrate').restart, 'no')
  t.equal(condition('migrate', 'postgres'), 'service_healthy')
  for (const name of ['api', 'worker']) {
    t.equal(condition(name, 'postgres'), 'service_healthy', `${name} waits for postgres`)
    t.equal(condition(name, 'redis'), 'service_healthy', `${name} waits for redis`)
    t.equal(condition(name, 'migrate'), 'service_completed_successfully', `${name} waits for migrations`)
  }
})

t.test('api, worker and migrate reach the same postgres and redis services', async (t) => {
  const api = environment('api')
  t.match(api.DATABASE_URL, /^postgres(ql)?:\/\//)
  t.match(api.REDIS_URL, /^redis:\/\//)
  t.ok(Object.hasOwn(services, new URL(api.DATABASE_URL ?? 'x:').hostname), 'DATABASE_URL names a service')
  t.ok(Object.hasOwn(services, new URL(api.REDIS_URL ?? 'x:').hostname), 'REDIS_URL names a service')
  for (const name of ['worker', 'migrate']) {
    t.equal(environment(name).DATABASE_URL, api.DATABASE_URL, `${name} DATABASE_URL`)
    t.equal(environment(name).REDIS_URL, api.REDIS_URL, `${name} REDIS_URL`)
  }
})

t.test(
  'the Dockerfile builds in a separate stage and runs production dependencies as a non-root user',
  async (t) => {
    const froms = instructions.filter(([keyword]) => keyword === 'FROM')
    t.ok(froms.length >= 2, 'at least two FROM stages')
    const lastFrom = instructions.findLastIndex(([keyword]) => keyword === 'FROM')
    const runtime = instructions.slice(lastFrom)
    const user = runtime.findLast(([keyword]) => keyword === 'USER')?.[1]
    t.ok(user, 'the runtime stage sets USER')
    t.notMatch(user ?? 'root', /^(root|0)(:|$)/, 'and it is not root')
    t.ok(
      runtime.some(([keyword, rest]) => keyword === 'RUN' && /\bnpm ci\b.*--omit=dev\b/.test(rest)),
      'the runtime stage installs with npm ci --omit=dev',
    )
  },
)
