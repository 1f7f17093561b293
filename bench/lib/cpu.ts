// CPU accounting of bench/referrals.ts and bench/delivery.ts, from /proc (Linux): utime + stime of
// every process that takes part, read before and after a run, grouped by role. The hub's and the
// bench's own processes are known by pid; Postgres's are the postmaster's children, each client
// backend named by its pg_stat_activity application_name (so the API's backends, the worker's and
// the baseline's are told apart, and other clients of a shared server are not counted as ours);
// Redis is the pid its INFO reports. The whole machine's busy time comes from /proc/stat, so what
// none of the roles used shows as the rest of the machine.
import { readdirSync, readFileSync } from 'node:fs'
import type pg from 'pg'

/** USER_HZ on Linux: /proc's times are in 1/100 s. */
export const TICKS_PER_SECOND = 100

export const POSTGRES_BACKGROUND = 'Postgres: background'
export const POSTGRES_OTHER_CLIENTS = 'Postgres: other clients'

/** Fields of /proc/PID/stat after the command name (which may hold spaces and parentheses). */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}

/** utime + stime of a process, in ticks; undefined when it is gone (or not on this machine). */
export function processTicks(pid: number): number | undefined {
  const fields = statFields(pid)
  return fields ? Number(fields[11]) + Number(fields[12]) : undefined
}

export function parentPid(pid: number): number | undefined {
  const fields = statFields(pid)
  return fields ? Number(fields[1]) : undefined
}

export function commandName(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
  } catch {
    return undefined
  }
}

/** The pids whose parent is `ppid`. */
export function childrenOf(ppid: number): number[] {
  const children: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    if (parentPid(Number(entry)) === ppid) children.push(Number(entry))
  }
  return children
}

/** Busy and total ticks of the whole machine (all CPUs); idle and iowait count as not busy. */
export function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!
  const n = line.trim().split(/\s+/).slice(1, 9).map(Number)
  const total = n.reduce((a, b) => a + b, 0)
  return { busy: total - n[3]! - n[4]!, total }
}

export interface CpuSnapshot {
  /** performance.now() when it was taken. */
  at: number
  /** Ticks of every process measured, by pid. */
  ticks: Map<number, number>
  /** The role of each of those pids at that moment. */
  roles: Map<number, string>
  machine: { busy: number; total: number }
}

export interface CpuUse {
  seconds: number
  /** CPU seconds by role. */
  byRole: Map<string, number>
  /** CPU seconds the whole machine was busy (every CPU summed). */
  machineBusy: number
}

/**
 * CPU seconds each role used between two snapshots. A pid counts under its role in the later
 * snapshot; a pid that is new there (or whose ticks went down: the pid was reused) counts whole; a
 * process that ended between the two is lost (its time cannot be read any more): the benchmarks keep
 * their processes and connections for the whole run, so that loses nothing of theirs.
 */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): CpuUse {
  const ticksByRole = new Map<string, number>()
  for (const [pid, ticks] of after.ticks) {
    const role = after.roles.get(pid)
    if (role === undefined) continue
    const earlier = before.ticks.get(pid)
    const used = earlier === undefined || ticks < earlier ? ticks : ticks - earlier
    ticksByRole.set(role, (ticksByRole.get(role) ?? 0) + used)
  }
  return {
    seconds: (after.at - before.at) / 1000,
    byRole: new Map([...ticksByRole].map(([role, ticks]) => [role, ticks / TICKS_PER_SECOND])),
    machineBusy: (after.machine.busy - before.machine.busy) / TICKS_PER_SECOND,
  }
}

/**
 * The role of each Postgres process: a client backend whose application_name is one of ours takes
 * that role, any other client backend is another client's, and everything else the postmaster runs
 * (checkpointer, WAL writer, background writer, autovacuum, the postmaster itself) is background.
 */
export function postgresRoles(
  postmaster: number,
  children: readonly number[],
  activity: readonly { pid: number; application_name: string | null; backend_type: string | null }[],
  applicationRoles: ReadonlyMap<string, string>,
): Map<number, string> {
  const byPid = new Map(activity.map((row) => [row.pid, row]))
  const roles = new Map<number, string>([[postmaster, POSTGRES_BACKGROUND]])
  for (const pid of children) {
    const row = byPid.get(pid)
    const ours = row?.application_name ? applicationRoles.get(row.application_name) : undefined
    if (ours) roles.set(pid, ours)
    else if (row?.backend_type === 'client backend') roles.set(pid, POSTGRES_OTHER_CLIENTS)
    else roles.set(pid, POSTGRES_BACKGROUND)
  }
  return roles
}

export interface CpuMeterSources {
  /** Processes known by pid: role by pid (read at each snapshot: a process may be started again). */
  processes: () => Map<number, string>
  /** A connection to the Postgres under test, and the role of each application_name of ours. */
  postgres: { client: pg.Client; applicationRoles: ReadonlyMap<string, string> }
  /** The redis-server's pid, when it runs on this machine. */
  redisPid?: number | undefined
}

/** Takes CPU snapshots of every role a benchmark run involves. */
export class CpuMeter {
  private constructor(
    private readonly sources: CpuMeterSources,
    /** undefined when Postgres does not run on this machine (its pids are not ours to read). */
    readonly postmaster: number | undefined,
  ) {}

  /** Finds the postmaster through the connection's own backend (its parent process). */
  static async create(sources: CpuMeterSources): Promise<CpuMeter> {
    const { rows } = await sources.postgres.client.query<{ pid: number }>('select pg_backend_pid() as pid')
    const backend = rows[0]!.pid
    const postmaster = commandName(backend) === 'postgres' ? parentPid(backend) : undefined
    return new CpuMeter(
      sources,
      postmaster !== undefined && commandName(postmaster) === 'postgres' ? postmaster : undefined,
    )
  }

  get redisMeasured(): boolean {
    return this.sources.redisPid !== undefined
  }

  async snapshot(): Promise<CpuSnapshot> {
    const roles = new Map(this.sources.processes())
    if (this.sources.redisPid !== undefined) roles.set(this.sources.redisPid, 'Redis')
    if (this.postmaster !== undefined) {
      const { rows } = await this.sources.postgres.client.query<{
        pid: number
        application_name: string | null
        backend_type: string | null
      }>('select pid, application_name, backend_type from pg_stat_activity')
      const children = childrenOf(this.postmaster)
      for (const [pid, role] of postgresRoles(
        this.postmaster,
        children,
        rows,
        this.sources.postgres.applicationRoles,
      ))
        roles.set(pid, role)
    }
    const ticks = new Map<number, number>()
    for (const pid of roles.keys()) {
      const value = processTicks(pid)
      if (value !== undefined) ticks.set(pid, value)
    }
    return { at: performance.now(), ticks, roles, machine: machineTicks() }
  }
}

/** The pid of the redis-server behind `info` (INFO server's text), when it runs on this machine. */
export function redisPidFromInfo(info: string): number | undefined {
  const pid = Number(/^process_id:(\d+)/m.exec(info)?.[1])
  return Number.isInteger(pid) && commandName(pid)?.startsWith('redis-server') ? pid : undefined
}
