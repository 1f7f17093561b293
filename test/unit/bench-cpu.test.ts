// The CPU accounting of the benchmarks (bench/lib/cpu.ts): which role a process's time goes to, and
// how the time between two snapshots is counted.
import t from 'tap'
import {
  type CpuSnapshot,
  cpuBetween,
  POSTGRES_BACKGROUND,
  POSTGRES_OTHER_CLIENTS,
  postgresRoles,
  processTicks,
  redisPidFromInfo,
} from '../../bench/lib/cpu.js'
import { CPU_ROLES, cpuPerReferralCells, SERVER_SIDE } from '../../bench/lib/format.js'

const snapshot = (at: number, busy: number, processes: [number, number, string][]): CpuSnapshot => ({
  at,
  ticks: new Map(processes.map(([pid, ticks]) => [pid, ticks])),
  roles: new Map(processes.map(([pid, , role]) => [pid, role])),
  machine: { busy, total: busy * 2 },
})

t.test('time between snapshots is summed by role, in seconds', async (t) => {
  const before = snapshot(1000, 500, [
    [10, 100, 'API'],
    [11, 40, 'worker'],
    [20, 5, 'Postgres: API'],
    [21, 7, 'Postgres: API'],
  ])
  const after = snapshot(3000, 900, [
    [10, 250, 'API'],
    [11, 90, 'worker'],
    [20, 25, 'Postgres: API'],
    [21, 17, 'Postgres: API'],
  ])
  const use = cpuBetween(before, after)
  t.equal(use.seconds, 2)
  t.equal(use.machineBusy, 4)
  t.same(Object.fromEntries(use.byRole), { API: 1.5, worker: 0.5, 'Postgres: API': 0.3 })
})

t.test(
  'a process that is new, or whose pid was reused, counts whole; one that ended is not read',
  async (t) => {
    const before = snapshot(0, 0, [
      [10, 100, 'API'],
      [30, 500, 'Postgres: worker'],
      [40, 80, 'Postgres: other clients'],
    ])
    const after = snapshot(1000, 100, [
      [10, 110, 'API'],
      [31, 12, 'Postgres: worker'],
      [40, 3, 'Postgres: background'],
    ])
    const use = cpuBetween(before, after)
    t.same(Object.fromEntries(use.byRole), {
      API: 0.1,
      'Postgres: worker': 0.12,
      'Postgres: background': 0.03,
    })
  },
)

t.test('Postgres processes: ours by application name, other clients, and the background', async (t) => {
  const roles = postgresRoles(
    1,
    [2, 3, 4, 5, 6],
    [
      { pid: 2, application_name: 'bench_x_api', backend_type: 'client backend' },
      { pid: 3, application_name: 'bench_x_worker', backend_type: 'client backend' },
      { pid: 4, application_name: 'psql', backend_type: 'client backend' },
      { pid: 5, application_name: '', backend_type: 'checkpointer' },
    ],
    new Map([
      ['bench_x_api', 'Postgres: API'],
      ['bench_x_worker', 'Postgres: worker'],
    ]),
  )
  t.same(Object.fromEntries(roles), {
    1: POSTGRES_BACKGROUND,
    2: 'Postgres: API',
    3: 'Postgres: worker',
    4: POSTGRES_OTHER_CLIENTS,
    5: POSTGRES_BACKGROUND,
    // Not in pg_stat_activity (the logger, a process that just started): background.
    6: POSTGRES_BACKGROUND,
  })
})

t.test('this process has CPU ticks; a pid that is not a redis-server is not taken for one', async (t) => {
  t.ok((processTicks(process.pid) ?? -1) >= 0)
  t.equal(processTicks(2 ** 30), undefined)
  t.equal(redisPidFromInfo(`# Server\r\nredis_version:7.0.15\r\nprocess_id:${process.pid}\r\n`), undefined)
  t.equal(redisPidFromInfo('# Server\r\nredis_version:7.0.15\r\n'), undefined)
})

t.test(
  'a CPU-per-referral row: ms per referral by role, the rest of the machine, the server side',
  async (t) => {
    const use = {
      seconds: 10,
      machineBusy: 12,
      byRole: new Map([
        ['API', 2],
        ['worker', 1],
        ['Postgres: API', 3],
        ['Redis', 0.5],
        ['load generator', 1.5],
        // Not columns of their own: they are part of the rest of the machine.
        ['bench (this process)', 0.2],
        ['Postgres: other clients', 0.8],
      ]),
    }
    const cells = cpuPerReferralCells(use, 1000, SERVER_SIDE.hub, { postgres: true, redis: true })
    t.same(Object.fromEntries(CPU_ROLES.map((role, i) => [role, cells[i]])), {
      API: '2.000',
      worker: '1.000',
      'Postgres: API': '3.000',
      'Postgres: worker': '–',
      'Postgres: background': '–',
      Redis: '0.500',
      'load generator': '1.500',
      baseline: '–',
      'Postgres: baseline': '–',
    })
    t.same(cells.slice(-2), ['4.000', '6.500'], 'rest: 12 s busy − 8 s of the columns; server side: 6.5 s')
    const unmeasured = cpuPerReferralCells(use, 1000, SERVER_SIDE.hub, { postgres: false, redis: false })
    t.equal(unmeasured[CPU_ROLES.indexOf('Postgres: API')], 'n/a')
    t.equal(unmeasured[CPU_ROLES.indexOf('Redis')], 'n/a')
  },
)
