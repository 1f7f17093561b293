import t from 'tap'
import { CONSOLE_CSP } from '../../src/plugins/console.js'
import { buildTestApp } from '../helpers/build-app.js'
import { ensureConsoleBuilt } from '../helpers/console.js'

t.test('the console is served at /console with its own strict CSP', async (t) => {
  await ensureConsoleBuilt()
  const { app } = await buildTestApp(t)

  const index = await app.inject({ method: 'GET', url: '/console/' })
  t.equal(index.statusCode, 200)
  t.match(index.headers['content-type'], /^text\/html/)
  t.equal(index.headers['content-security-policy'], CONSOLE_CSP, 'the console policy, not the API one')
  t.equal(index.headers['cache-control'], 'no-cache')
  t.notMatch(index.body, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script in the page')
  t.notMatch(index.body, /\sstyle=|<style/, 'no inline style in the page')
  t.notMatch(index.body, /https?:\/\//, 'nothing loaded from another origin')

  const bare = await app.inject({ method: 'GET', url: '/console' })
  t.equal(bare.statusCode, 200, '/console without the slash too')
  t.equal(bare.body, index.body)

  const script = index.body.match(/<script type="module" crossorigin src="([^"]+)"/)?.[1]
  t.ok(script?.startsWith('/console/assets/'), 'the script comes from /console/assets')
  const asset = await app.inject({ method: 'GET', url: script! })
  t.equal(asset.statusCode, 200)
  t.match(asset.headers['content-type'], /javascript/)
  t.equal(asset.headers['cache-control'], 'public, max-age=31536000, immutable')
  t.equal(asset.headers['content-security-policy'], CONSOLE_CSP)

  for (const url of [
    '/console/.vite/manifest.json',
    '/console/index.html',
    '/console/assets/../../../package.json',
    '/console/assets/%2e%2e/%2e%2e/%2e%2e/package.json',
    '/console/assets/nothing.js',
  ]) {
    const refused = await app.inject({ method: 'GET', url })
    t.ok([403, 404].includes(refused.statusCode), `${url} is not served (${refused.statusCode})`)
  }

  const api = await app.inject({ method: 'GET', url: '/health/live' })
  t.not(api.headers['content-security-policy'], CONSOLE_CSP, 'the API keeps its own policy')
})
