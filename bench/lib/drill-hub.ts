// What bench/drills.ts asks of the hub besides the load: `trm` commands from dist (migrate, agencies
// add, audit verify), the final read of every pull inbox, and the wait for the audit sealer.
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import http from 'node:http'
import { join } from 'node:path'
import { Queue } from 'bullmq'
import type pg from 'pg'
import { type AgencyKeys, generateAgencyKeys } from '../../src/sdk/keys.js'
import { exchange } from './http.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export interface DrillAgency {
  id: string
  keys: AgencyKeys
  country: string
  push: boolean
  /** `Bearer <access token>`, once the hub is up. */
  authorization: string
}

/** Runs `node dist/src/cli.js ARGS`; resolves with its exit code and output. */
export function trm(
  dist: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(dist, 'cli.js'), ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }))
  })
}

/** Generates an agency's keys and registers it with `trm agencies add`, as an operator would. */
export async function registerAgency(
  context: { dist: string; env: Record<string, string>; dir: string },
  agency: { name: string; country: string; ncp?: boolean; pushUrl?: string },
): Promise<DrillAgency> {
  const keys = await generateAgencyKeys('EdDSA')
  const jwksFile = join(context.dir, `${agency.name.replace(/\W+/g, '-')}.jwks.json`)
  writeFileSync(jwksFile, JSON.stringify(keys.publicJwks))
  const args = ['agencies', 'add', '--name', agency.name, '--country', agency.country, '--jwks', jwksFile]
  args.push('--kind', agency.ncp ? 'national_agency' : 'ngo', '--json')
  if (agency.ncp) args.push('--ncp')
  if (agency.pushUrl) args.push('--push-url', agency.pushUrl)
  const added = await trm(context.dist, args, context.env)
  if (added.code !== 0) throw new Error(`trm agencies add failed: ${added.stderr}`)
  const { id } = JSON.parse(added.stdout) as { id: string }
  return { id, keys, country: agency.country, push: !!agency.pushUrl, authorization: '' }
}

/**
 * Reads each pull agency's inbox from its oldest unconfirmed message and confirms what it read, until
 * a long-poll comes back empty (or 2 minutes passed); answers how many times each referral was read
 * here. Messages whose confirmation was lost in a fault come back (at-least-once): they count as
 * duplicate deliveries.
 */
export async function drainInboxes(agencies: DrillAgency[], ports: number[]): Promise<Map<string, number>> {
  const agent = new http.Agent({ keepAlive: true })
  const reads = new Map<string, number>()
  const call = (port: number, agency: DrillAgency, method: string, path: string, body?: string) =>
    exchange(agent, {
      host: '127.0.0.1',
      port,
      method,
      path,
      headers: {
        authorization: agency.authorization,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body } : {}),
      deadline: performance.now() + 30_000,
      keepBody: () => true,
    })
  for (const [i, agency] of agencies.entries()) {
    const port = ports[i % ports.length]!
    const deadline = performance.now() + 120_000
    while (performance.now() < deadline) {
      const page = await call(port, agency, 'GET', '/v1/inbox?limit=100&wait=1')
      if (page.status !== '200') {
        await sleep(500)
        continue
      }
      const { items } = JSON.parse(page.body ?? '{}') as {
        items: { type: string; referralId: string; cursor: string }[]
      }
      if (items.length === 0) break
      for (const item of items)
        if (item.type === 'referral') reads.set(item.referralId, (reads.get(item.referralId) ?? 0) + 1)
      await call(port, agency, 'POST', '/v1/inbox/confirm', JSON.stringify({ through: items.at(-1)!.cursor }))
    }
  }
  agent.destroy()
  return reads
}

/** Waits (up to 60 s) until the workers' sealer has sealed every audit event; answers how many are left. */
export async function waitSealed(db: pg.Client, schema: string): Promise<number> {
  const deadline = performance.now() + 60_000
  for (;;) {
    const { rows } = await db.query<{ n: string }>(
      `select count(*) as n from ${schema}.audit_events e
        where not exists (select from ${schema}.audit_leaves l where l.event_id = e.id)`,
    )
    const left = Number(rows[0]?.n)
    if (left === 0 || performance.now() > deadline) return left
    await sleep(500)
  }
}

/**
 * Deadline timers: the referrals' deadline jobs written to the outbox, and how many of them BullMQ
 * holds in Redis (a deadline is 24 h or more away, so none has run yet). Fewer in Redis means timers
 * that were lost with Redis's memory: those referrals would never be escalated.
 */
export async function deadlineTimers(
  db: pg.Client,
  schema: string,
  redis: { port: number; prefix: string },
): Promise<{ written: number; inRedis: number }> {
  const { rows } = await db.query<{ n: string }>(
    `select count(*) as n from ${schema}.outbox where queue = 'deadlines'`,
  )
  const queue = new Queue('deadlines', {
    connection: { host: '127.0.0.1', port: redis.port },
    prefix: redis.prefix,
  })
  try {
    const counts = await queue.getJobCounts(
      'delayed',
      'waiting',
      'active',
      'prioritized',
      'completed',
      'failed',
    )
    return { written: Number(rows[0]?.n), inRedis: Object.values(counts).reduce((a, b) => a + b, 0) }
  } finally {
    await queue.close()
  }
}

/** The commit of the checkout at `root` (and whether src/ or migrations/ differ from it). */
export async function commitOf(root: string): Promise<string> {
  const git = (...args: string[]) =>
    new Promise<string>((resolve) => {
      const child = spawn('git', args, { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] })
      let out = ''
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')))
      child.on('close', () => resolve(out.trim()))
      child.on('error', () => resolve(''))
    })
  const head = await git('rev-parse', '--short', 'HEAD')
  if (!head) return 'unknown (not a git checkout)'
  const changed = await git('status', '--porcelain', '--', 'src', 'migrations')
  return `${head}${changed ? ' with uncommitted changes in src/ or migrations/' : ''}`
}
