import { readFile } from 'node:fs/promises'
import t from 'tap'
import { generateOpenApi, OPENAPI_PATH } from '../../scripts/openapi.js'
import { ALL_SCOPES, type Scope } from '../../src/modules/agencies/scopes.core.js'
import { signAccessToken } from '../../src/modules/auth/access-token.js'
import { addAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'

interface Operation {
  operationId?: string
  security?: Record<string, string[]>[]
}
interface Document {
  openapi: string
  paths: Record<string, Record<string, Operation>>
  components: {
    securitySchemes: { oauth2: { flows: { clientCredentials: { scopes: Record<string, string> } } } }
  }
}

const METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'])

const operations = (document: Document) =>
  Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.has(method))
      .map(([method, operation]) => ({ path, method, operation })),
  )

const signature = (document: Document) =>
  operations(document)
    .map(({ method, path }) => `${method.toUpperCase()} ${path}`)
    .sort()

const committedText = await readFile(OPENAPI_PATH, 'utf8')
const committed = JSON.parse(committedText) as Document

t.test('the committed openapi/openapi.json is what the route schemas generate', async (t) => {
  const generated = await generateOpenApi()
  t.equal(
    committedText,
    generated,
    'openapi/openapi.json is out of date: run `npm run openapi` and commit it',
  )
})

t.test('the document is OpenAPI 3.1 with an id and a security requirement on every operation', async (t) => {
  t.equal(committed.openapi, '3.1.0')
  const all = operations(committed)
  t.ok(all.length >= 10, `lists the operations (${all.length})`)
  const declaredScopes = Object.keys(
    committed.components.securitySchemes.oauth2.flows.clientCredentials.scopes,
  )
  t.same([...declaredScopes].sort(), [...ALL_SCOPES].sort(), 'the oauth2 scheme declares every scope')
  const ids = new Set<string>()
  for (const { method, path, operation } of all) {
    const name = `${method.toUpperCase()} ${path}`
    t.match(operation.operationId, /^[a-z][A-Za-z0-9]+$/, `${name} has an operationId`)
    ids.add(String(operation.operationId))
    t.ok(Array.isArray(operation.security), `${name} states its security (possibly empty)`)
    if (!operation.security || operation.security.length === 0) continue
    const oauth2 = operation.security.find((requirement) => 'oauth2' in requirement)?.['oauth2']
    t.ok(oauth2 && oauth2.length > 0, `${name} names oauth2 scopes`)
    for (const scope of oauth2 ?? []) t.ok(declaredScopes.includes(scope), `${name}: ${scope} is declared`)
  }
  t.equal(ids.size, all.length, 'operationIds are unique')
})

t.test('the stated security is what the routes enforce', async (t) => {
  const { app } = await buildTestApp(t)
  const operator = await addAgency(app, { kind: 'hub_operator', country: 'BE' })
  const token = (scopes: Scope[]) =>
    signAccessToken(app.hubKeys, app.config.publicUrl, { agencyId: operator.id, scopes }, 900, new Date())
  for (const { method, path, operation } of operations(committed)) {
    // {id} is the caller's own agency id: a route for an agency's own changes lets it through.
    const url = path.replace('{id}', operator.id).replace(/\{[^}]+\}/g, 'x')
    const name = `${method.toUpperCase()} ${path}`
    const call = (authorization?: string) =>
      app.inject({
        method: method.toUpperCase() as 'GET',
        url,
        ...(authorization ? { headers: { authorization } } : {}),
      })
    const anonymous = await call()
    // Alternatives (any one of them is enough), each a list of scopes all needed.
    const alternatives = (operation.security ?? []).flatMap((requirement) =>
      requirement['oauth2'] ? [requirement['oauth2']] : [],
    )
    if (alternatives.length === 0) {
      t.not(anonymous.statusCode, 401, `${name} is public`)
      continue
    }
    t.equal(anonymous.statusCode, 401, `${name} needs a token`)
    const named = new Set(alternatives.flat())
    const others = ALL_SCOPES.filter((scope) => !named.has(scope))
    const lacking = await call(`Bearer ${await token(others)}`)
    t.equal(lacking.statusCode, 403, `${name} needs ${alternatives.map((s) => s.join(' ')).join(' or ')}`)
    for (const scopes of alternatives) {
      const holding = await call(`Bearer ${await token(scopes as Scope[])}`)
      t.notOk([401, 403].includes(holding.statusCode), `${name} is let through with ${scopes.join(' ')}`)
    }
  }
})

t.test('the served documents have the committed paths, and /docs is self-contained', async (t) => {
  const { app } = await buildTestApp(t)
  const served = await app.inject('/openapi.json')
  t.equal(served.statusCode, 200)
  t.match(served.headers['content-type'], /application\/json/)
  t.same(signature(served.json()), signature(committed), '/openapi.json has the same operations')

  let url = '/docs'
  let page = await app.inject(url)
  for (let hops = 0; page.statusCode >= 300 && page.statusCode < 400 && hops < 3; hops += 1) {
    url = new URL(String(page.headers['location']), `http://hub.test${url}`).pathname
    page = await app.inject(url)
  }
  t.equal(page.statusCode, 200, `${url} answers`)
  t.match(page.headers['content-type'], /^text\/html/)
  t.match(page.body, /<html/i)
  const assets = [
    ...page.body.matchAll(/<(?:script|link)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']+)["']/gi),
  ].map((m) => m[1]!)
  t.ok(
    assets.some((a) => a.endsWith('.js')),
    'the page loads scripts',
  )
  for (const asset of assets) {
    t.notMatch(asset, /^(?:[a-z][a-z0-9+.-]*:)?\/\//i, `${asset} is local`)
    const assetUrl = new URL(asset, `http://hub.test${url}`)
    t.equal(assetUrl.host, 'hub.test')
    t.equal((await app.inject(assetUrl.pathname)).statusCode, 200, `${assetUrl.pathname} is served`)
  }
  t.notMatch(page.body, /<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*["']?(?:https?:)?\/\//i)

  // The page's initializer loads the document it shows from ./json next to the page.
  const base = url.endsWith('/') ? url : `${url}/`
  const shown = await app.inject(new URL('./json', `http://hub.test${base}`).pathname)
  t.equal(shown.statusCode, 200, 'the document behind /docs is served')
  t.same(signature(shown.json()), signature(committed), 'and has the same operations')
})
