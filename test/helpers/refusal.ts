import { HubRequestError } from '../../src/sdk/hub-client.js'

/** An RFC 9457 problem as the hub writes it; other members read as they are. */
// biome-ignore lint/suspicious/noExplicitAny: a problem body, read field by field by the tests
export type Problem = Record<string, any> & {
  code: string
  detail: string
  errors?: { pointer: string; detail: string }[]
}

/** The hub's refusal of a request: its status and problem body. Throws if the hub accepted it. */
export async function refusal<Body = Problem>(
  promise: Promise<unknown>,
): Promise<{ status: number; body: Body }> {
  try {
    await promise
  } catch (error) {
    if (error instanceof HubRequestError) return { status: error.status, body: error.body as Body }
    throw error
  }
  throw new Error('expected a refusal, the hub accepted it')
}
