// Text of the benchmarks' reports: Markdown tables, milliseconds, the CPU-per-referral columns.
import type { CpuUse } from './cpu.js'

export const fmtMs = (n: number | undefined) =>
  n === undefined || Number.isNaN(n)
    ? '–'
    : n >= 1000
      ? `${(n / 1000).toFixed(2)} s`
      : n >= 100
        ? `${n.toFixed(0)} ms`
        : n >= 10
          ? `${n.toFixed(1)} ms`
          : `${n.toFixed(2)} ms`

/** A Markdown table with padded columns. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) => `| ${cells.map((c, i) => (c ?? '').padEnd(widths[i]!)).join(' | ')} |`
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n')
}

export const out = (text = '') => process.stdout.write(`${text}\n`)

/** The roles a CPU-per-referral table shows, in this order (bench/lib/cpu.ts names the Postgres ones). */
export const CPU_ROLES = [
  'API',
  'worker',
  'Postgres: API',
  'Postgres: worker',
  'Postgres: background',
  'Redis',
  'load generator',
  'baseline',
  'Postgres: baseline',
] as const

/** Which roles are the server side of a run: what the hub, or the baseline, costs per referral. */
export const SERVER_SIDE = {
  hub: ['API', 'worker', 'Postgres: API', 'Postgres: worker', 'Postgres: background', 'Redis'],
  baseline: ['baseline', 'Postgres: baseline', 'Postgres: background'],
} as const

/**
 * One row of CPU milliseconds per referral: each role of CPU_ROLES (– when no such process ran), the
 * rest of the machine (busy time none of those roles accounts for: other work, other clients of a
 * shared Postgres, the bench's own process and connection), and the server side's sum.
 */
export function cpuPerReferralCells(
  use: CpuUse,
  referrals: number,
  side: readonly string[],
  measured: { postgres: boolean; redis: boolean },
): string[] {
  const per = (seconds: number) => (referrals > 0 ? (1000 * seconds) / referrals : Number.NaN)
  const cell = (role: string) => {
    if (role.startsWith('Postgres') && !measured.postgres) return 'n/a'
    if (role === 'Redis' && !measured.redis) return 'n/a'
    const seconds = use.byRole.get(role)
    return seconds === undefined ? '–' : per(seconds).toFixed(3)
  }
  const accounted = CPU_ROLES.reduce((sum, role) => sum + (use.byRole.get(role) ?? 0), 0)
  const serverSide = side.reduce((sum, role) => sum + (use.byRole.get(role) ?? 0), 0)
  return [
    ...CPU_ROLES.map(cell),
    per(Math.max(0, use.machineBusy - accounted)).toFixed(3),
    per(serverSide).toFixed(3),
  ]
}
