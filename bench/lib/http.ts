// One HTTP exchange with node:http, for the load generator's POSTs and the delivery bench's
// recipients (long-polls, inbox confirmations): plain node:http with a caller's keep-alive Agent,
// the cheapest client Node has, which matters on a 2-core machine shared with the server under test.
import http from 'node:http'

export interface Exchange {
  host: string
  port: number
  method: string
  path: string
  headers: Record<string, string>
  /** Sent as the request body when present. */
  body?: string
  /** performance.now() time past which the request is abandoned with status TIMEOUT. */
  deadline: number
  /** Which answers' bodies to keep (others are read and dropped); kept bodies are cut at `maxBody` characters. */
  keepBody: (status: number) => boolean
  maxBody?: number
}

export interface Answer {
  /** The HTTP status as digits, or the error code (ECONNRESET, TIMEOUT…). */
  status: string
  /** performance.now() when the answer had been read whole (or the request failed). */
  end: number
  body?: string
}

/** Sends one request and resolves (never rejects) once its answer is read or it failed. */
export function exchange(agent: http.Agent, x: Exchange): Promise<Answer> {
  return new Promise((resolveOnce) => {
    let timer: NodeJS.Timeout | undefined
    const resolve = (answer: Answer) => {
      clearTimeout(timer)
      resolveOnce(answer)
    }
    const failed = (error: NodeJS.ErrnoException) =>
      resolve({ status: error.code ?? error.name, end: performance.now() })
    const request = http.request(
      {
        agent,
        host: x.host,
        port: x.port,
        path: x.path,
        method: x.method,
        headers:
          x.body === undefined ? x.headers : { ...x.headers, 'content-length': Buffer.byteLength(x.body) },
      },
      (response) => {
        const status = String(response.statusCode)
        const keep = x.keepBody(response.statusCode ?? 0)
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => {
          if (keep) chunks.push(chunk)
        })
        response.on('end', () => {
          const body = keep ? Buffer.concat(chunks).toString('utf8') : undefined
          resolve({
            status,
            end: performance.now(),
            ...(body === undefined ? {} : { body: x.maxBody ? body.slice(0, x.maxBody) : body }),
          })
        })
        response.on('error', failed)
      },
    )
    timer = setTimeout(
      () => request.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })),
      Math.max(0, x.deadline - performance.now()),
    )
    request.on('error', failed)
    request.end(x.body)
  })
}
