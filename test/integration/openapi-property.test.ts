import fc from 'fast-check'
import t from 'tap'
import { signAccessToken } from '../../src/modules/auth/access-token.js'
import { createClientAssertion } from '../../src/sdk/client-assertion.js'
import { signAcknowledgement, signReferral } from '../../src/sdk/documents.js'
import { generateAgencyKeys } from '../../src/sdk/keys.js'
import { addAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { databaseFingerprint } from '../helpers/db-fingerprint.js'
import { hostileValue, type Pools, type Schema, valueArbitrary } from '../helpers/openapi-arbitraries.js'
import { referralDocument } from '../helpers/referrals.js'

// Requests generated from the OpenAPI document the app serves, for every operation: bodies, path
// parameters, query strings and headers as the schemas describe them and mutated, with and without
// valid tokens. Whatever comes in, the hub answers below 500; every 4xx is a problem document; and
// a refused (4xx) request leaves the database as it was (test/helpers/db-fingerprint.ts says what
// a refusal may write: its token.refused audit event). Bounded: a fixed number of runs per operation
// and a fixed seed, so a failure replays.

const RUNS_PER_OPERATION = 16
const SEED = 20261204

interface Parameter {
  in: 'path' | 'query' | 'header'
  name: string
  required?: boolean
  schema: Schema
}
interface Operation {
  operationId: string
  parameters?: Parameter[]
  requestBody?: { content: Record<string, { schema: Schema }> }
  security?: Record<string, string[]>[]
}
interface Document {
  paths: Record<string, Record<string, Operation>>
  components: { schemas: Record<string, Schema> }
}

type Mutation =
  | { kind: 'none' }
  | { kind: 'member'; index: number; value: unknown; remove: boolean }
  | { kind: 'extra'; name: string; value: unknown }
  | { kind: 'whole'; value: unknown }
  | { kind: 'raw'; text: string }

const METHODS = ['get', 'post', 'put', 'patch', 'delete']

/** Percent-encodes the UTF-8 bytes of a path segment (a lone surrogate becomes U+FFFD, as on the wire). */
const encodeSegment = (value: string) =>
  [...Buffer.from(value, 'utf8')]
    .map((b) =>
      /[A-Za-z0-9_.~-]/.test(String.fromCharCode(b))
        ? String.fromCharCode(b)
        : `%${b.toString(16).padStart(2, '0')}`,
    )
    .join('')
const PROBLEM_MEMBERS = ['type', 'title', 'status', 'detail', 'instance', 'code']

/** Sets, deletes or adds one member at any depth of a JSON value (copying, never changing `value`). */
function mutateMember(value: unknown, index: number, next: unknown, remove: boolean): unknown {
  const paths: (string | number)[][] = []
  const walk = (v: unknown, path: (string | number)[]) => {
    paths.push(path)
    if (Array.isArray(v)) {
      for (const [i, item] of v.entries()) walk(item, [...path, i])
    } else if (v && typeof v === 'object') for (const [k, item] of Object.entries(v)) walk(item, [...path, k])
  }
  walk(value, [])
  const path = paths[index % paths.length]!
  if (path.length === 0) return remove ? undefined : next
  const copy = structuredClone(value) as Record<string | number, unknown>
  let parent = copy
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>
  const last = path.at(-1)!
  if (remove && !Array.isArray(parent)) delete parent[last]
  else parent[last] = next
  return copy
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'none' as const }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('member' as const),
      index: fc.nat(50),
      value: hostileValue,
      remove: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('extra' as const),
      name: fc.constantFrom('victimName', 'x\u0000', 'a'.repeat(150), '__proto__', 'constructor'),
      value: hostileValue,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('whole' as const), value: hostileValue }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('raw' as const),
      text: fc.oneof(
        fc.string({ maxLength: 60 }),
        fc.constantFrom(
          '{',
          '{"a":',
          '[1,2',
          '{"jws":"\\ud800"}',
          `${'['.repeat(20_000)}${']'.repeat(20_000)}`,
        ),
      ),
    }),
  },
)

function applyMutation(value: unknown, m: Mutation): { payload?: string } {
  switch (m.kind) {
    case 'none':
      return value === undefined ? {} : { payload: JSON.stringify(value) }
    case 'member': {
      const changed = mutateMember(value ?? {}, m.index, m.value, m.remove)
      return changed === undefined ? {} : { payload: JSON.stringify(changed) }
    }
    case 'extra': {
      const base = value && typeof value === 'object' && !Array.isArray(value) ? value : {}
      const text = JSON.stringify({ ...base, [m.name]: m.value })
      return { payload: text }
    }
    case 'whole':
      return { payload: JSON.stringify(m.value) ?? 'null' }
    case 'raw':
      return { payload: m.text }
  }
}

t.test(
  'requests generated from the OpenAPI document: no 5xx, problems for 4xx, nothing written by a refusal',
  async (t) => {
    const started = Date.now()
    const { app } = await buildTestApp(t, { RATE_LIMIT_MAX: '1000000000' })
    const operator = await addAgency(app, { kind: 'hub_operator', country: 'BE' })
    const ro = await addAgency(app, { country: 'RO' })
    const de = await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true })
    const spare = await addAgency(app, { country: 'FR' })
    const referral = referralDocument(ro, { agencyId: de.id })
    await ro.client.request('POST', '/v1/referrals', { jws: await signReferral(referral, ro.keys.signing) })
    const document = app.swagger() as unknown as Document
    const signedReferrals = await Promise.all(
      Array.from({ length: 8 }, () =>
        signReferral(referralDocument(ro, { agencyId: de.id }), ro.keys.signing),
      ),
    )
    const received = await signAcknowledgement(
      {
        id: crypto.randomUUID(),
        referralId: referral.id,
        type: 'received',
        createdAt: new Date().toISOString(),
      },
      de.keys.signing,
    )
    const publicKeys = await Promise.all(Array.from({ length: 6 }, () => generateAgencyKeys('ES256')))
    const pools: Pools = {
      // Not the agencies whose tokens are used: a generated PATCH may suspend what it names.
      ids: [referral.id, spare.id],
      countries: ['RO', 'DE', 'BE', 'FR'],
      examples: {
        SignedSubmission: [...signedReferrals, received].map((jws) => ({ jws })),
        PublicJwk: publicKeys.map((k) => k.publicJwks.keys[0]),
        AgencyCreate: publicKeys.map((k, i) => ({
          name: `Generated agency ${i} (fictional)`,
          country: 'FR',
          kind: 'ngo',
          jwks: k.publicJwks,
        })),
      },
    }
    const hub = app.config.publicUrl
    const tokenFor = (agencyId: string, scopes: string[], now = new Date()) =>
      signAccessToken(app.hubKeys, hub, { agencyId, scopes: scopes as never }, 900, now)
    const all = [
      'referrals:write',
      'referrals:read',
      'acknowledgements:write',
      'inbox:read',
      'directory:read',
    ]
    const authorizations = [
      undefined,
      'Bearer not-a-token',
      'Basic b3BlcmF0b3I6b3BlcmF0b3I=',
      `Bearer ${await tokenFor(ro.id, all)}`,
      `Bearer ${await tokenFor(de.id, [...all, 'stats:read', 'audit:read'])}`,
      `Bearer ${await tokenFor(operator.id, [...all, 'stats:read', 'audit:read', 'agencies:admin'])}`,
      `Bearer ${await tokenFor(ro.id, all, new Date(Date.now() - 3_600_000))}`,
      `Bearer ${await tokenFor(crypto.randomUUID(), all)}`,
    ]
    const statuses = new Map<number, number>()
    let refused = 0
    let baseline = await databaseFingerprint(app)

    for (const [path, item] of Object.entries(document.paths)) {
      for (const method of METHODS) {
        const operation = item[method]
        if (!operation) continue
        const name = `${method.toUpperCase()} ${path}`
        const parameters = operation.parameters ?? []
        const bodySchema = operation.requestBody
          ? Object.values(operation.requestBody.content)[0]?.schema
          : undefined
        const form = operation.requestBody?.content['application/x-www-form-urlencoded'] !== undefined
        const parameterValue = (parameter: Parameter) =>
          fc.oneof(
            { weight: 4, arbitrary: valueArbitrary(parameter.schema, document.components.schemas, pools) },
            { weight: 1, arbitrary: hostileValue },
          )
        const request = fc.record({
          path: fc.record(
            Object.fromEntries(
              parameters.filter((p) => p.in === 'path').map((p) => [p.name, parameterValue(p)]),
            ),
          ),
          query: fc.record(
            Object.fromEntries(
              parameters
                .filter((p) => p.in === 'query')
                .map((p) => [
                  p.name,
                  fc.oneof(
                    { weight: 2, arbitrary: fc.constant(undefined) },
                    { weight: 1, arbitrary: parameterValue(p) },
                  ),
                ]),
            ),
          ),
          extraQuery: fc.option(fc.constantFrom('unknown=1', 'limit=1&limit=2', 'after=%00', 'a=%FF'), {
            nil: undefined,
          }),
          body: bodySchema
            ? valueArbitrary(bodySchema, document.components.schemas, pools)
            : fc.constant(undefined),
          mutation: bodySchema ? mutation : fc.oneof(fc.constant({ kind: 'none' as const }), mutation),
          authorization: fc.oneof(
            {
              weight: 1,
              arbitrary: fc.constantFrom(...authorizations.slice(0, 3), ...authorizations.slice(6)),
            },
            { weight: 3, arbitrary: fc.constantFrom(...authorizations.slice(3, 6)) },
          ),
          contentType: fc.oneof(
            { weight: 6, arbitrary: fc.constant('default') },
            {
              weight: 1,
              arbitrary: fc.constantFrom(
                'application/json',
                'text/plain',
                'application/x-www-form-urlencoded',
                'application/json; charset=utf-16',
              ),
            },
          ),
          header: fc.option(
            fc.constantFrom<[string, string]>(
              ['x-forwarded-for', '10.0.0.1, ::1, garbage'],
              ['accept', 'application/xml'],
              ['idempotency-key', 'a'.repeat(300)],
              ['x-request-id', '../../x'],
            ),
            { nil: undefined },
          ),
          freshAssertion: fc.boolean(),
        })

        const operationStatuses = new Map<number, number>()
        await fc.assert(
          fc.asyncProperty(request, async (r) => {
            let url = path
            for (const [key, value] of Object.entries(r.path)) {
              url = url.replace(`{${key}}`, encodeSegment(String(value)))
            }
            const query = new URLSearchParams()
            for (const [key, value] of Object.entries(r.query)) {
              if (value === undefined) continue
              // The long-poll waits as long as it is asked to: keep generated requests short.
              query.set(key, key === 'wait' && typeof value === 'number' ? '0' : String(value))
            }
            const search = [query.toString(), r.extraQuery].filter(Boolean).join('&')
            if (search) url += `?${search}`
            let body = r.body
            if (form && r.freshAssertion && body && typeof body === 'object') {
              body = {
                ...body,
                scope: undefined,
                grant_type: 'client_credentials',
                client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
                client_assertion: await createClientAssertion(
                  ro.id,
                  ro.keys.signing,
                  `${hub}/v1/oauth/token`,
                ),
              }
            }
            const { payload: json } = applyMutation(body, r.mutation as Mutation)
            const payload =
              form && json !== undefined && r.mutation.kind !== 'raw'
                ? (() => {
                    const parsed = JSON.parse(json) as unknown
                    return parsed && typeof parsed === 'object'
                      ? new URLSearchParams(
                          Object.entries(parsed).map(([k, v]): [string, string] => [
                            k,
                            typeof v === 'string' ? v : JSON.stringify(v),
                          ]),
                        ).toString()
                      : json
                  })()
                : json
            const headers: Record<string, string> = {}
            if (r.authorization) headers['authorization'] = r.authorization
            if (payload !== undefined) {
              headers['content-type'] =
                r.contentType === 'default'
                  ? form
                    ? 'application/x-www-form-urlencoded'
                    : 'application/json'
                  : r.contentType
            }
            if (r.header) headers[r.header[0]] = r.header[1]
            const response = await app.inject({
              method: method.toUpperCase() as 'GET',
              url,
              headers,
              ...(payload !== undefined ? { payload } : {}),
            })
            statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1)
            operationStatuses.set(response.statusCode, (operationStatuses.get(response.statusCode) ?? 0) + 1)
            const what = `${name} → ${response.statusCode} for ${url.slice(0, 200)} ${String(payload).slice(0, 200)}`
            if (response.statusCode >= 500) throw new Error(`5xx: ${what}: ${response.body.slice(0, 300)}`)
            const after = await databaseFingerprint(app)
            if (response.statusCode >= 400) {
              refused += 1
              const problem = response.json() as Record<string, unknown>
              for (const member of PROBLEM_MEMBERS) {
                if (!(member in problem))
                  throw new Error(`no ${member} in the 4xx answer: ${what}: ${response.body}`)
              }
              if (problem['status'] !== response.statusCode)
                throw new Error(`problem status differs: ${what}`)
              if (JSON.stringify(after) !== JSON.stringify(baseline)) {
                throw new Error(`a refused request changed the database: ${what}`)
              }
            }
            baseline = after
          }),
          { numRuns: RUNS_PER_OPERATION, seed: SEED, endOnFailure: true },
        )
        t.pass(
          `${name}: ${RUNS_PER_OPERATION} generated requests: ${JSON.stringify([...operationStatuses].sort())}`,
        )
      }
    }
    t.notOk(
      [...statuses.keys()].some((s) => s >= 500),
      'no 5xx',
    )
    t.ok(refused > 0, `refusals seen: ${JSON.stringify([...statuses].sort())}`)
    t.ok(
      [...statuses.keys()].some((s) => s < 300),
      'some generated requests were accepted',
    )
    t.comment(`${statuses.size} statuses over the run, in ${Math.round((Date.now() - started) / 1000)} s`)
  },
)
