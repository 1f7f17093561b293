import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import fp from 'fastify-plugin'

/**
 * The console's own policy, stricter than the API's: its script, styles and calls come from this
 * origin only, no inline script or style, no plugins, no framing, nowhere to post a form to.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ')

/**
 * Where `npm run build` writes the console (vite, console/vite.config.ts): dist/console. Seen from
 * src/plugins (tsx, tests) or dist/src/plugins (the built server) alike; a folder counts only with
 * Vite's manifest in it, so the sources in console/ are never served.
 */
export function builtConsoleDirectory(): string | undefined {
  const candidates = ['../../dist/console/', '../../console/'].map((relative) =>
    fileURLToPath(new URL(relative, import.meta.url)),
  )
  return candidates.find((directory) => existsSync(`${directory}.vite/manifest.json`))
}

/** The browser console (console/) at /console, when it has been built. */
export default fp<{ root?: string | undefined }>(
  async function consoleFiles(app, options) {
    const root = options.root ?? builtConsoleDirectory()
    if (!root) {
      app.log.warn('the console is not built (npm run build): /console is not served')
      return
    }
    // The page itself, at /console and /console/ alike (the router ignores a trailing slash).
    const page = await readFile(path.join(root, 'index.html'))
    app.get('/console', { schema: { hide: true } }, async (_request, reply) =>
      reply
        .header('content-security-policy', CONSOLE_CSP)
        .header('cache-control', 'no-cache')
        .type('text/html; charset=utf-8')
        .send(page),
    )
    // Script and styles: their names carry a content hash, so they may be kept for good.
    await app.register(fastifyStatic, {
      root: path.join(root, 'assets'),
      prefix: '/console/assets/',
      decorateReply: false,
      dotfiles: 'deny',
      cacheControl: false,
      setHeaders(reply) {
        reply.header('content-security-policy', CONSOLE_CSP)
        reply.header('cache-control', 'public, max-age=31536000, immutable')
      },
    })
  },
  { name: 'trm-console' },
)
