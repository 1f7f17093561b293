// A private PostgreSQL and Redis for bench/drills.ts: Debian's binaries on spare loopback ports, with
// their data in the drill's own directory, so that a drill can stop and kill them without touching the
// machine's shared services (5432, 6379).
import { type ChildProcess, spawn } from 'node:child_process'
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const isRoot = () => process.getuid?.() === 0

/** Runs a command to its exit; rejects with its output when it fails. Nothing inherits our pipes past exit. */
function run(command: string, args: string[], options: { asPostgres?: boolean } = {}): Promise<string> {
  const [file, argv] =
    options.asPostgres && isRoot() ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args]
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
    child.on('error', reject)
    // 'exit', not 'close': a server started by the command must not keep us waiting on a pipe.
    child.on('exit', (code) =>
      code === 0 ? resolve(output) : reject(new Error(`${command} exited with ${code}: ${output.trim()}`)),
    )
  })
}

/** The newest Debian PostgreSQL binaries directory (`ls -d /usr/lib/postgresql/<version>/bin | tail -1`). */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')) && existsSync(join(root, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number.parseFloat(a) - Number.parseFloat(b))
  const newest = versions.at(-1)
  return newest ? join(root, newest, 'bin') : undefined
}

export function redisServerAvailable(): boolean {
  return (process.env['PATH'] ?? '').split(':').some((dir) => existsSync(join(dir, 'redis-server')))
}

/** Resolves true when something answers on 127.0.0.1:port within timeoutMs. */
function answers(
  port: number,
  probe: string | undefined,
  expect: string,
  timeoutMs: number,
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    let received = ''
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.on('error', () => done(false))
    socket.on('connect', () => (probe === undefined ? done(true) : socket.write(probe)))
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('utf8')
      if (received.includes(expect)) done(true)
    })
  })
}

/** A PostgreSQL cluster of its own: initdb (as user postgres when run as root), pg_ctl start and stop. */
export class PrivatePostgres {
  readonly url: string
  private readonly data: string

  constructor(
    private readonly bin: string,
    private readonly dir: string,
    readonly port: number,
  ) {
    this.url = `postgres://postgres@127.0.0.1:${port}/postgres`
    this.data = join(dir, 'data')
  }

  /** initdb refuses to run as root: the directory is given to postgres and initdb runs as that user. */
  async init(): Promise<void> {
    mkdirSync(this.dir, { recursive: true })
    if (isRoot()) {
      const uid = Number((await run('id', ['-u', 'postgres'])).trim())
      const gid = Number((await run('id', ['-g', 'postgres'])).trim())
      chownSync(this.dir, uid, gid)
    }
    await run(
      join(this.bin, 'initdb'),
      ['-D', this.data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8'],
      { asPostgres: true },
    )
  }

  /** Starts the server and waits until it accepts connections (after crash recovery, when stopped hard). */
  async start(): Promise<void> {
    await run(
      join(this.bin, 'pg_ctl'),
      [
        '-D',
        this.data,
        '-l',
        join(this.dir, 'log'),
        '-w',
        '-t',
        '120',
        '-o',
        `-c listen_addresses=127.0.0.1 -p ${this.port} -k ${this.dir}`,
        'start',
      ],
      { asPostgres: true },
    )
  }

  /** `pg_ctl stop -m immediate`: every backend quits at once, as on a crash; the next start recovers. */
  async stopImmediate(): Promise<void> {
    await run(join(this.bin, 'pg_ctl'), ['-D', this.data, '-m', 'immediate', '-w', 'stop'], {
      asPostgres: true,
    })
  }

  /** Stops the server if it runs (teardown); never throws. */
  async stopIfRunning(): Promise<void> {
    if (!existsSync(join(this.data, 'postmaster.pid'))) return
    await run(join(this.bin, 'pg_ctl'), ['-D', this.data, '-m', 'immediate', '-w', 'stop'], {
      asPostgres: true,
    }).catch(() => {})
  }

  logTail(lines = 20): string {
    try {
      return readFileSync(join(this.dir, 'log'), 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
    } catch {
      return ''
    }
  }
}

/**
 * A redis-server of its own, as a child process. Without persistence (the default) a kill -9 loses
 * everything in it, BullMQ's jobs included; with `aof` every write is fsynced to an append-only file in
 * `dir` before Redis answers, and a restart reads it back.
 */
export class PrivateRedis {
  readonly url: string
  private child: ChildProcess | undefined
  /** Set by kill9() and stop(); an exit without it is the server dying on its own. */
  private expectingExit = false
  readonly unexpectedExits: { code: number | null; signal: string | null }[] = []

  constructor(
    private readonly dir: string,
    readonly port: number,
    private readonly persistence: 'none' | 'aof' = 'none',
  ) {
    this.url = `redis://127.0.0.1:${port}`
  }

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true })
    const log = openSync(join(this.dir, 'redis.log'), 'a')
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        ...(this.persistence === 'aof'
          ? ['--appendonly', 'yes', '--appendfsync', 'always']
          : ['--appendonly', 'no']),
        '--daemonize',
        'no',
        '--dir',
        this.dir,
        // BullMQ loses jobs if Redis may evict keys.
        '--maxmemory-policy',
        'noeviction',
      ],
      { stdio: ['ignore', log, log] },
    )
    closeSync(log)
    this.expectingExit = false
    this.child = child
    child.on('exit', (code, signal) => {
      if (!this.expectingExit) this.unexpectedExits.push({ code, signal })
    })
    const deadline = performance.now() + 10_000
    while (!(await answers(this.port, 'PING\r\n', '+PONG', 500))) {
      if (performance.now() > deadline || child.exitCode !== null)
        throw new Error(`redis-server did not start on port ${this.port}; see ${this.dir}/redis.log`)
      await sleep(50)
    }
  }

  /** SIGKILL, and waits for the process to be gone. */
  async kill9(): Promise<void> {
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    this.expectingExit = true
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  }

  stop(): Promise<void> {
    return this.kill9()
  }
}

/** Resolves true when a TCP connection to 127.0.0.1:port succeeds within timeoutMs. */
export const portAnswers = (port: number, timeoutMs = 500) => answers(port, undefined, '', timeoutMs)
