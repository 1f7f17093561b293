import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One scrape: the Prometheus text exposition and its content type. */
export interface MetricsScrape {
  contentType: string
  body: string
}

export interface MetricsListener {
  /** Where it listens, e.g. `http://127.0.0.1:9464/metrics`. */
  readonly url: string
  /** Stops listening and ends its connections (a scraper's keep-alive one included). */
  close(): Promise<void>
}

/**
 * Serves `GET /metrics` on an address of its own (loopback by default), so metrics, which name
 * routes and counts, never answer on the public API port. Anything else is 404. A failed scrape
 * answers 500 and goes to `onError`.
 */
export async function listenMetrics(
  scrape: () => Promise<MetricsScrape>,
  address: { host: string; port: number },
  onError: (error: unknown) => void = () => {},
): Promise<MetricsListener> {
  const server = createServer({ requestTimeout: 10_000, headersTimeout: 10_000 }, (request, response) => {
    const path = (request.url ?? '/').split('?')[0]
    if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n')
      return
    }
    scrape().then(
      ({ contentType, body }) => response.writeHead(200, { 'content-type': contentType }).end(body),
      (error: unknown) => {
        onError(error)
        response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('scrape failed\n')
      },
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host: address.host, port: address.port }, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { address: host, family, port } = server.address() as AddressInfo
  return {
    url: `http://${family === 'IPv6' ? `[${host}]` : host}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
