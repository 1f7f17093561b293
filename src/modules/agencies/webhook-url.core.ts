import net from 'node:net'

/**
 * Webhook URLs are https; plain http is allowed only to loopback, and only with the development
 * flag. Returns what is wrong, or undefined. (Address checks at delivery time guard against DNS
 * tricks; this is the registration-time rule.)
 */
export function checkWebhookUrl(url: string, allowLoopback: boolean): string | undefined {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return 'The webhook URL is not a URL.'
  }
  if (parsed.username || parsed.password) return 'The webhook URL must not carry credentials.'
  if (parsed.protocol === 'https:') return undefined
  if (parsed.protocol === 'http:' && allowLoopback && isLoopbackHost(parsed.hostname)) return undefined
  return 'The webhook URL must use https.'
}

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '')
  if (host === 'localhost') return true
  if (net.isIPv4(host)) return host.startsWith('127.')
  return host === '::1'
}
