import { createClientAssertion } from './client-assertion.js'
import type { SigningKey } from './documents.js'

export interface HubClientOptions {
  /** The hub's base URL, e.g. https://hub.example.eu */
  baseUrl: string
  agencyId: string
  /** The private JWK, or an already imported key (the console's non-extractable CryptoKey). */
  signingKey: SigningKey
  /** The token endpoint the assertion names as audience; read from the hub's RFC 8414 metadata when absent. */
  tokenAudience?: string
  scope?: string
  /** Injected for tests (Fastify's inject, a proxy); defaults to global fetch. */
  fetch?: typeof fetch
}

export class HubRequestError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`hub answered ${status}: ${JSON.stringify(body)}`)
  }
}

/** A minimal client for an agency's system: fetches and refreshes its access token and calls the API. */
export class HubClient {
  private token: { value: string; expiresAt: number } | undefined
  private readonly fetchImpl: typeof fetch

  constructor(private readonly options: HubClientOptions) {
    this.fetchImpl = options.fetch ?? fetch
  }

  /** A valid access token, fetched again a minute before the current one expires. */
  async accessToken(): Promise<string> {
    if (this.token && this.token.expiresAt - 60_000 > Date.now()) return this.token.value
    const tokenUrl = `${this.options.baseUrl}/v1/oauth/token`
    const assertion = await createClientAssertion(
      this.options.agencyId,
      this.options.signingKey,
      await this.tokenAudience(),
    )
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
      ...(this.options.scope ? { scope: this.options.scope } : {}),
    })
    const response = await this.fetchImpl(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
    })
    const body = (await response.json()) as { access_token: string; expires_in: number }
    if (!response.ok) throw new HubRequestError(response.status, body)
    this.token = { value: body.access_token, expiresAt: Date.now() + body.expires_in * 1000 }
    return body.access_token
  }

  private audience: string | undefined

  /** The hub's own name for its token endpoint (behind a proxy it differs from the address we call). */
  private async tokenAudience(): Promise<string> {
    if (this.options.tokenAudience) return this.options.tokenAudience
    if (!this.audience) {
      const response = await this.fetchImpl(`${this.options.baseUrl}/.well-known/oauth-authorization-server`)
      const metadata = (await response.json()) as { token_endpoint?: string }
      if (!response.ok || !metadata.token_endpoint) throw new HubRequestError(response.status, metadata)
      this.audience = metadata.token_endpoint
    }
    return this.audience
  }

  /** Calls the API with the agency's token; resolves to the parsed body, throws HubRequestError on 4xx/5xx. */
  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const token = await this.accessToken()
    const response = await this.fetchImpl(`${this.options.baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const text = await response.text()
    const parsed = text ? (JSON.parse(text) as unknown) : undefined
    if (!response.ok) throw new HubRequestError(response.status, parsed)
    return parsed as T
  }
}
