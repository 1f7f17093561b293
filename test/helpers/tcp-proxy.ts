import net from 'node:net'

/**
 * A loopback TCP proxy that a test can cut and restore, to take a real service away from the app
 * (and give it back) without touching the service itself.
 */
export class TcpProxy {
  private server: net.Server | undefined
  private sockets = new Set<net.Socket>()
  port = 0

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(port = 0): Promise<number> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.targetHost)
      for (const s of [client, upstream]) {
        this.sockets.add(s)
        s.on('close', () => this.sockets.delete(s))
        s.on('error', () => s.destroy())
      }
      client.pipe(upstream).pipe(client)
    })
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve))
    this.port = (this.server.address() as net.AddressInfo).port
    return this.port
  }

  /** Closes the listener and every open connection: the service looks gone. */
  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    this.sockets.clear()
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
    this.server = undefined
  }
}

/** Ports this process has handed out: each goes to one caller, who may not have bound it yet. */
const handedOut = new Set<number>()

/**
 * A loopback port nothing listens on, never one this process handed out before: the system may offer
 * a port again once it is closed, and a test that asks for two (an API's and its metrics') binds the
 * first only later, in a child process.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const server = net.createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as net.AddressInfo
    await new Promise<void>((resolve) => server.close(() => resolve()))
    if (!handedOut.has(port)) {
      handedOut.add(port)
      return port
    }
  }
}
