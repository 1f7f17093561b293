// The report of bench/referrals.ts: open-loop latency, closed-loop saturation per round, CPU per
// referral of every process, where the Postgres connections were, and the targets of issue 18.
import type { CpuUse } from './cpu.js'
import { CPU_ROLES, cpuPerReferralCells, fmtMs, out, SERVER_SIDE, table } from './format.js'
import { percentile, type RunResult } from './ipc.js'
import type { Backlog, Waits } from './pg-watch.js'

/** baseline: the bare pipeline; hub: API and worker processes, as deployed; api: the API process alone. */
export type Who = 'baseline' | 'hub' | 'api'
export const LABEL: Record<Who, string> = {
  baseline: 'baseline',
  hub: 'hub: API + worker',
  api: 'API process alone',
}

export interface Measured {
  who: Who
  mode: 'open' | 'closed'
  round: number
  /** Seconds spent before the run waiting for everything to settle (backlogs drained, servers quiet). */
  settled: number
  result: RunResult
  sorted: number[]
  ok: number
  errors: number
  /** From the start of the load to the end of the hub's catching up (the load's end for the others). */
  cpu: CpuUse
  /** From the start of the load to its end. */
  loadCpu: CpuUse
  /** The hub's backlog when the load ended, and when it was gone (seconds after the load's end). */
  backlog?: Backlog | undefined
  caughtUp?: number | undefined
  waits: Waits
}

const backlogCell = (m: Measured) =>
  m.who === 'baseline' ? '' : m.backlog ? `${m.backlog.outbox} / ${m.backlog.unsealed}` : 'n/a'
const caughtUpCell = (m: Measured) =>
  m.who !== 'hub' ? '' : m.caughtUp === undefined ? 'n/a' : `${m.caughtUp.toFixed(1)} s`
export const satRate = (m: Measured) => m.ok / m.result.windowSeconds

export interface ReportInput {
  rate: number
  seconds: number
  warmup: number
  concurrency: number
  satSeconds: number
  satWarmup: number
  open: Measured[]
  rounds: Measured[][]
  measured: { postgres: boolean; redis: boolean }
  cpuCount: number
}

export function reportRuns(input: ReportInput): void {
  const { open, rounds } = input
  out(`## Open loop: ${input.rate} referrals/s, ${input.seconds} s measured after ${input.warmup} s warm-up`)
  out()
  out(
    table(
      [
        'configuration',
        'requests',
        'req/s',
        'p50',
        'p99',
        'p99.9',
        'max',
        'errors',
        'backlog at the end: outbox / unsealed',
        'worker caught up after',
        'generator lag p99 / max',
        'max in flight',
      ],
      open.map((m) => [
        LABEL[m.who],
        String(m.result.latencies.length),
        (m.result.latencies.length / m.result.windowSeconds).toFixed(0),
        fmtMs(percentile(m.sorted, 50)),
        fmtMs(percentile(m.sorted, 99)),
        fmtMs(percentile(m.sorted, 99.9)),
        fmtMs(m.sorted.at(-1)),
        String(m.errors + m.result.warmupErrors),
        backlogCell(m),
        caughtUpCell(m),
        `${fmtMs(m.result.lagP99)} / ${fmtMs(m.result.lagMax)}`,
        String(m.result.maxInFlight),
      ]),
    ),
  )
  out()
  out(
    'Latency runs from the time each request was due (open loop), so queueing anywhere counts. Errors: any ' +
      'answer but 201, the warm-up included. Backlog: outbox rows not yet relayed to BullMQ and audit events ' +
      'not yet sealed when the load ended; the worker caught up when both were 0.',
  )
  out()
  for (const m of open) {
    const slowest = (m.result.slowestPerSecond ?? []).map((v) => v.toFixed(0)).join(' ')
    out(`Slowest request due in each second, ${LABEL[m.who]} (ms): ${slowest}`)
  }
  out()

  out(
    `## Saturation: closed loop, ${input.concurrency} in flight, ${input.satSeconds} s after ${input.satWarmup} s ` +
      `warm-up, ${rounds.length} alternating round${rounds.length === 1 ? '' : 's'}`,
  )
  out()
  out(
    table(
      [
        'round',
        'configuration',
        'req/s (201)',
        'p50',
        'p99',
        'errors',
        'window',
        'backlog at the end: outbox / unsealed',
        'worker caught up after',
        '/ baseline',
      ],
      rounds.flatMap((round) => {
        const base = round.find((m) => m.who === 'baseline')!
        return round.map((m) => [
          String(m.round + 1),
          LABEL[m.who],
          satRate(m).toFixed(0),
          fmtMs(percentile(m.sorted, 50)),
          fmtMs(percentile(m.sorted, 99)),
          String(m.errors + m.result.warmupErrors),
          `${m.result.windowSeconds.toFixed(1)} s${m.result.exhausted ? ' (documents ran out)' : ''}`,
          backlogCell(m),
          caughtUpCell(m),
          m.who === 'baseline' ? '' : (satRate(m) / satRate(base)).toFixed(2),
        ])
      }),
    ),
  )
  out()

  out('## CPU per referral (ms), by process')
  out()
  const runName = (m: Measured) =>
    m.mode === 'open'
      ? `${LABEL[m.who]}, open ${input.rate}/s`
      : `${LABEL[m.who]}, closed, round ${m.round + 1}`
  out(
    table(
      [
        'run',
        'referrals',
        ...CPU_ROLES,
        'rest of the machine',
        'server side',
        'CPU counted over',
        'machine busy under load',
      ],
      [...open, ...rounds.flat()].map((m) => [
        runName(m),
        String(m.result.okTotal),
        ...cpuPerReferralCells(
          m.cpu,
          m.result.okTotal,
          m.who === 'baseline' ? SERVER_SIDE.baseline : SERVER_SIDE.hub,
          input.measured,
        ),
        `${m.cpu.seconds.toFixed(1)} s`,
        `${((100 * m.loadCpu.machineBusy) / m.loadCpu.seconds / input.cpuCount).toFixed(0)} %`,
      ]),
    ),
  )
  out()
  out(
    'utime + stime from /proc over the run, divided by the 201s of the run (warm-up included). A hub run is ' +
      'counted until the worker caught up, so work it deferred is in its row. Postgres: API / worker / baseline ' +
      "are those processes' backends (by application_name); background: the postmaster and its other " +
      'processes (WAL writer, checkpointer, autovacuum…). Server side: hub = API + worker + their backends + ' +
      'background + Redis; baseline = baseline + its backends + background. Rest of the machine: busy time ' +
      "none of these accounts for (other work, other clients' backends, this bench's own process).",
  )
  if (!input.measured.postgres)
    out('Postgres does not run on this machine (its processes cannot be read): its columns are n/a.')
  if (!input.measured.redis) out('Redis does not run on this machine: its column is n/a.')
  out()

  const waitRows = (name: string, m: Measured | undefined) =>
    m
      ? [...m.waits.counts]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 6)
          .map(([what, n]) => {
            const [who, state, wait, query] = what.split(' | ')
            return [
              name,
              who ?? '',
              (n / m.waits.samples).toFixed(2),
              state ?? '',
              wait ?? '',
              `\`${query ?? ''}\``,
            ]
          })
      : []
  out('## Where the Postgres connections were (pg_stat_activity every 50 ms; mean connections per sample)')
  out()
  out(
    table(
      ['run', 'process', 'connections', 'state', 'waiting on', 'query'],
      [...open, ...(rounds[0] ?? [])].flatMap((m) => waitRows(runName(m), m)),
    ),
  )
  out()
}

/** Median of the per-round ratios of `who` to the baseline, and the round it comes from. */
export function medianRatio(rounds: Measured[][], who: Who): { ratio: number; round: number; all: number[] } {
  const all = rounds.map((round) => {
    const base = round.find((m) => m.who === 'baseline')!
    return satRate(round.find((m) => m.who === who)!) / satRate(base)
  })
  const sorted = all.map((ratio, round) => ({ ratio, round })).sort((a, b) => a.ratio - b.ratio)
  return { ...sorted[Math.floor((sorted.length - 1) / 2)]!, all }
}
