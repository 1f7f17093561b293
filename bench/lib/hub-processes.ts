// The hub processes of bench/drills.ts (`node dist/src/server.js`, `node dist/src/worker.js`), watched:
// an exit the drill did not cause is recorded as a death on its own, with its exit code and the tail of
// what it wrote, and the process is started again (with a growing pause) so that the drill can finish;
// the death still counts. Each process's output is appended to <logDir>/<name>.log and .stderr.log.
import { type ChildProcess, spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import http from 'node:http'
import { join } from 'node:path'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const TAIL_BYTES = 4096

export interface Death {
  name: string
  /** performance.now() of the exit. */
  at: number
  code: number | null
  signal: string | null
  /** The end of its stderr and the last error lines of its log (pino, level >= 50), cut short. */
  tail: string
}

/** Keeps the last TAIL_BYTES characters written to a stream, and its last few pino error lines. */
class Tail {
  text = ''
  readonly errors: string[] = []
  private partial = ''
  push(chunk: Buffer) {
    const text = chunk.toString('utf8')
    this.text = (this.text + text).slice(-TAIL_BYTES)
    const lines = (this.partial + text).split('\n')
    this.partial = (lines.pop() ?? '').slice(-65_536)
    for (const line of lines) {
      if (!/"level":(50|60)/.test(line)) continue
      this.errors.push(line)
      if (this.errors.length > 3) this.errors.shift()
    }
  }
}

export class HubProcess {
  private child: ChildProcess | undefined
  private planned = false
  private stopping = false
  private restartDelayMs = 1000
  private stdout = new Tail()
  private stderr = new Tail()
  /** How many times it was started, the first included. */
  starts = 0

  constructor(
    readonly name: string,
    private readonly script: string,
    private readonly env: Record<string, string>,
    private readonly logDir: string,
    private readonly onDeath: (death: Death) => void,
    /** For API processes: the port whose /health/live says it is up. */
    readonly port?: number,
    /** Node options before the script (e.g. --cpu-prof). */
    private readonly nodeArgs: readonly string[] = [],
  ) {}

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null
  }

  get pid(): number | undefined {
    return this.child?.pid
  }

  start(): void {
    this.planned = false
    this.stdout = new Tail()
    this.stderr = new Tail()
    this.starts += 1
    const banner = `--- ${new Date().toISOString()} start ${this.starts}\n`
    const child = spawn(process.execPath, [...this.nodeArgs, this.script], {
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.child = child
    for (const [stream, tail, file] of [
      [child.stdout!, this.stdout, `${this.name}.log`],
      [child.stderr!, this.stderr, `${this.name}.stderr.log`],
    ] as const) {
      const log = createWriteStream(join(this.logDir, file), { flags: 'a' })
      log.write(banner)
      stream.on('data', (chunk: Buffer) => tail.push(chunk))
      stream.pipe(log)
    }
    // 'close': after the exit and the last words it wrote have been read.
    child.on('close', (code, signal) => {
      if (!this.planned && !this.stopping) this.diedOnItsOwn(code, signal)
    })
  }

  private diedOnItsOwn(code: number | null, signal: string | null) {
    const cut = (line: string) => (line.length > 400 ? `${line.slice(0, 400)}…` : line)
    const stderr = this.stderr.text.trim() ? this.stderr.text.trim().split('\n').slice(-8) : []
    this.onDeath({
      name: this.name,
      at: performance.now(),
      code,
      signal,
      tail: [...stderr, ...this.stdout.errors.slice(-2)].map(cut).join('\n'),
    })
    const delay = this.restartDelayMs
    this.restartDelayMs = Math.min(this.restartDelayMs * 2, 8000)
    setTimeout(() => {
      if (!this.stopping && !this.running) this.start()
    }, delay)
  }

  /** The drill's own fault: SIGKILL, and waits until the process is gone. */
  async kill9(): Promise<void> {
    const child = this.child
    if (!child || !this.running) return
    this.planned = true
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  }

  /** Teardown: SIGTERM, then SIGKILL after graceMs. No restart and no death counted from here on. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true
    const child = this.child
    if (!child || !this.running) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    await exited
    clearTimeout(timer)
  }

  /** For an API process: waits until GET /health/live answers 200 (true), or timeoutMs passed (false). */
  async waitLive(timeoutMs = 30_000): Promise<boolean> {
    if (this.port === undefined) return true
    const deadline = performance.now() + timeoutMs
    while (performance.now() < deadline) {
      if ((await getStatus(this.port, '/health/live', 1000)) === 200) return true
      await sleep(100)
    }
    return false
  }
}

/** The status of one GET on 127.0.0.1:port (0 on any error or timeout) and its body. */
export function get(
  port: number,
  path: string,
  timeoutMs: number,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const request = http.get(
      { host: '127.0.0.1', port, path, timeout: timeoutMs, agent: false },
      (response) => {
        let body = ''
        response.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')))
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }))
        response.on('error', () => resolve({ status: 0, body: '' }))
      },
    )
    request.on('timeout', () => request.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })))
    request.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ status: 0, body: error.code ?? error.message }),
    )
  })
}

const getStatus = async (port: number, path: string, timeoutMs: number) =>
  (await get(port, path, timeoutMs)).status
