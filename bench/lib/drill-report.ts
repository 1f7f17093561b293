// The figures of bench/drills.ts, worked out from what the drill recorded (no I/O), and their table.
import type { FaultName, FaultRecord } from './drill-faults.js'
import type { Death } from './hub-processes.js'
import type { Attempt, Outcome } from './idempotent-sender.js'

export interface DrillInput {
  options: {
    count: number
    rate: number
    pgStopSeconds: number
    spacing: number
    restartAfter: number
    faults: FaultName[]
    giveUp: number
    drainSeconds: number
    redisAof: boolean
  }
  /** performance.now() when the first referral was due; every time below is on that clock. */
  t0: number
  submissions: { referralId: string }[]
  outcomes: (Outcome | undefined)[]
  attempts: Attempt[]
  /** Ids of the referrals in Postgres at the end. */
  stored: Set<string>
  /** Per submission: delivered through an inbox (pull) or the webhook (push), and how many times. */
  arrivals: { pull: boolean; copies: number }[]
  /** How long the drill waited, after the last answer, for every accepted referral to arrive. */
  waitedSeconds: number
  recipientCounts: Record<string, number>
  faults: FaultRecord[]
  deaths: Death[]
  /** Redis (or Postgres) exits the drill did not cause. */
  servicesDied: string[]
  unsealed: number
  /** Deadline jobs written to the outbox, and held by BullMQ in Redis at the end. */
  timers: { written: number; inRedis: number }
  audit: { code: number; output: string }
  commit: string
}

const histogram = (keys: string[]) => {
  const counts: Record<string, number> = {}
  for (const key of keys) counts[key] = (counts[key] ?? 0) + 1
  return Object.fromEntries(Object.entries(counts).sort((a, b) => b[1] - a[1]))
}
const seconds = (ms: number) => Number((ms / 1000).toFixed(1))

export function drillFigures(input: DrillInput) {
  const { submissions, outcomes, stored, arrivals, t0 } = input
  const final = submissions.map((_, i) => outcomes[i]?.final ?? 'not sent')
  const accepted = final.map((f) => f === '201' || f === '200')
  const isStored = submissions.map((s) => stored.has(s.referralId))
  const delivered = arrivals.map((a) => a.copies > 0)
  const acceptedNotStored = accepted.filter((a, i) => a && !isStored[i]).length
  const storedNotDelivered = isStored.filter((s, i) => s && !delivered[i]).length
  const extra = isStored.filter((s, i) => s && !accepted[i]).length
  const refused = final.filter((f) => /^\d+$/.test(f) && f !== '201' && f !== '200').length

  const pgFault = input.faults.find((f) => f.postgres)
  const pgStart = pgFault?.postgres?.startAt ?? 0
  const window = (from: number, to: number) => {
    const during = (at: number) => at >= from && at < to
    return {
      postAnswers: histogram(input.attempts.filter((a) => during(a.end)).map((a) => a.status)),
      ready: [0, 1].map((api) =>
        histogram(
          pgFault!.postgres!.ready.filter((r) => r.api === api && during(r.at)).map((r) => r.summary),
        ),
      ),
    }
  }
  const postgres = pgFault?.postgres && {
    stoppedSeconds: seconds(pgStart - pgFault.postgres.stoppedAt),
    startingSeconds: seconds(pgFault.back - pgStart),
    whileStopped: window(pgFault.postgres.stoppedAt, pgStart),
    whileStarting: window(pgStart, pgFault.back),
    firstCreatedAfterStartMs: firstAfter(
      input.attempts.filter((a) => a.status === '201').map((a) => a.end),
      pgStart,
    ),
    firstReadyAfterStartMs: [0, 1].map((api) =>
      firstAfter(
        pgFault.postgres!.ready.filter((r) => r.api === api && r.status === 200).map((r) => r.at),
        pgStart,
      ),
    ),
    // The same, counted from the moment Postgres accepted connections again (pg_ctl start -w returned).
    firstCreatedAfterAcceptingMs: firstAfter(
      input.attempts.filter((a) => a.status === '201').map((a) => a.end),
      pgFault.back,
    ),
    firstReadyAfterAcceptingMs: [0, 1].map((api) =>
      firstAfter(
        pgFault.postgres!.ready.filter((r) => r.api === api && r.status === 200).map((r) => r.at),
        pgFault.back,
      ),
    ),
  }

  const reasons = [
    acceptedNotStored + storedNotDelivered > 0 && 'referrals lost',
    extra > 0 && 'referrals stored without a 2xx',
    refused > 0 && 'referrals refused',
    input.deaths.length > 0 && 'hub processes died on their own',
    input.unsealed > 0 && 'audit events left unsealed',
    input.audit.code !== 0 && 'trm audit verify failed',
  ].filter((r): r is string => !!r)

  return {
    commit: input.commit,
    options: input.options,
    sent: final.filter((f) => f !== 'not sent').length,
    created: final.filter((f) => f === '201').length,
    replayed: final.filter((f) => f === '200').length,
    refused,
    refusals: outcomes.flatMap((o) => (o?.refusal ? [`${o.final} ${o.refusal}`] : [])).slice(0, 5),
    gaveUp: final.filter((f) => f === 'gave up').length,
    stored: stored.size,
    delivered: {
      unique: delivered.filter(Boolean).length,
      pull: arrivals.filter((a) => a.pull && a.copies > 0).length,
      push: arrivals.filter((a) => !a.pull && a.copies > 0).length,
      duplicates: arrivals.reduce((sum, a) => sum + Math.max(0, a.copies - 1), 0),
      waitedSeconds: Number(input.waitedSeconds.toFixed(1)),
    },
    lost: { total: acceptedNotStored + storedNotDelivered, acceptedNotStored, storedNotDelivered },
    extra,
    attempts: { total: input.attempts.length, statuses: histogram(input.attempts.map((a) => a.status)) },
    recipients: input.recipientCounts,
    faults: input.faults.map((f) => ({
      name: f.name,
      what: f.what,
      atSeconds: seconds(f.at - t0),
      backAfterSeconds: seconds(f.back - f.at),
    })),
    postgres,
    deaths: input.deaths.map((d) => ({
      name: d.name,
      atSeconds: seconds(d.at - t0),
      code: d.code,
      signal: d.signal,
      tail: d.tail,
    })),
    deadlineTimers: { ...input.timers, missing: Math.max(0, input.timers.written - input.timers.inRedis) },
    servicesDied: input.servicesDied,
    audit: { exitCode: input.audit.code, output: input.audit.output, unsealedLeft: input.unsealed },
    failed: reasons.length > 0,
    reasons,
  }
}

export type DrillFigures = ReturnType<typeof drillFigures>

/** Milliseconds from `from` to the first time at or after it; null when there was none. */
function firstAfter(times: number[], from: number): number | null {
  const after = times.filter((t) => t >= from)
  return after.length === 0 ? null : Math.round(Math.min(...after) - from)
}

const table = (header: string[], rows: string[][]) => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n')
}
const list = (counts: Record<string, number>) =>
  Object.entries(counts)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ') || 'none'
const ms = (n: number | null) => (n === null ? 'never (within the drill)' : `${n} ms`)

export function formatDrill(f: DrillFigures): string {
  const o = f.options
  const out: string[] = []
  out.push('# Fault drill', '')
  out.push(
    `commit ${f.commit}; ${o.count} referrals at ${o.rate}/s over 2 API and 2 worker processes; faults ` +
      `${o.faults.join(', ')}, ${o.spacing.toFixed(1)} s apart (down ${o.restartAfter} s; Postgres ` +
      `${o.pgStopSeconds} s); Redis ${o.redisAof ? 'with an fsynced AOF' : 'without persistence'}; ` +
      `client gives up after ${o.giveUp} s`,
    '',
  )
  out.push(
    table(
      ['', 'referrals'],
      [
        ['sent', String(f.sent)],
        ['2xx', `${f.created + f.replayed} (201: ${f.created}, 200 replays: ${f.replayed})`],
        ['refused (other 4xx)', String(f.refused)],
        ['gave up (no 2xx in time)', String(f.gaveUp)],
        ['stored (in Postgres)', String(f.stored)],
        [
          'delivered',
          `${f.delivered.unique} unique (pull ${f.delivered.pull}, push ${f.delivered.push}); ` +
            `${f.delivered.duplicates} duplicate deliveries; waited ${f.delivered.waitedSeconds} s for them after the run`,
        ],
        [
          'lost',
          `${f.lost.total} (2xx but not stored: ${f.lost.acceptedNotStored}; stored but never delivered: ` +
            `${f.lost.storedNotDelivered})`,
        ],
        ['extra (stored, never a 2xx)', String(f.extra)],
        ['hub processes died on their own', String(f.deaths.length)],
        [
          'deadline timers missing from Redis',
          `${f.deadlineTimers.missing} of ${f.deadlineTimers.written} (not in the exit status)`,
        ],
        [
          'trm audit verify',
          `${f.audit.exitCode === 0 ? 'intact' : 'FAILED'} (exit ${f.audit.exitCode}; ` +
            `${f.audit.unsealedLeft} events left unsealed)`,
        ],
      ],
    ),
    '',
  )
  if (f.faults.length === 0) out.push('No faults (--faults was empty).', '')
  else
    out.push(
      table(
        ['fault', 'at', 'back after'],
        f.faults.map((x) => [x.what, `t=${x.atSeconds} s`, `${x.backAfterSeconds} s`]),
      ),
      '',
    )
  if (f.postgres) {
    const p = f.postgres
    const window = (title: string, w: typeof p.whileStopped) => {
      out.push(`${title}:`)
      out.push(`- POST /v1/referrals answers: ${list(w.postAnswers)}`)
      for (const [api, r] of w.ready.entries()) out.push(`- api-${api + 1} GET /health/ready: ${list(r)}`)
    }
    window(
      `While Postgres was stopped (${p.stoppedSeconds} s, from pg_ctl stop -m immediate having returned to pg_ctl start)`,
      p.whileStopped,
    )
    window(
      `While it started again (${p.startingSeconds} s, crash recovery until pg_ctl start -w returned)`,
      p.whileStarting,
    )
    out.push(
      `From pg_ctl start: first 201 after ${ms(p.firstCreatedAfterStartMs)}; /health/ready 200 from ` +
        p.firstReadyAfterStartMs.map((n, api) => `api-${api + 1} after ${ms(n)}`).join(', '),
      `From Postgres accepting connections (pg_ctl start -w returned): first 201 after ` +
        `${ms(p.firstCreatedAfterAcceptingMs)}; /health/ready 200 from ` +
        p.firstReadyAfterAcceptingMs.map((n, api) => `api-${api + 1} after ${ms(n)}`).join(', ') +
        ' (readiness polled every 250 ms)',
      '',
    )
  }
  out.push(`All POST attempts (${f.attempts.total}): ${list(f.attempts.statuses)}`)
  const r = f.recipients
  out.push(
    `Pull recipients: ${r['polls']} long-polls answered (${r['pollErrors']} errors), ${r['confirms']} ` +
      `confirmations (${r['confirmErrors']} errors); webhook requests: ${r['webhookRequests']}`,
  )
  if (f.refusals.length > 0) out.push(`Refusals: ${f.refusals.join(' | ')}`)
  for (const d of f.deaths) {
    out.push('', `${d.name} died on its own at t=${d.atSeconds} s (exit code ${d.code}, signal ${d.signal}):`)
    out.push('```', d.tail || '(nothing on stderr, no error in its log)', '```')
  }
  if (f.servicesDied.length > 0)
    out.push('', `Services that stopped on their own: ${f.servicesDied.join(', ')}`)
  out.push('', `trm audit verify: ${f.audit.output.split('\n')[0] ?? ''}`)
  out.push(
    '',
    f.failed ? `FAILED: ${f.reasons.join('; ')}` : 'PASSED: nothing lost, nothing extra, no process died',
  )
  return `${out.join('\n')}\n`
}
