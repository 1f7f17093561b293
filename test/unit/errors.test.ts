import t from 'tap'
import { ERRORS, HubError, problemType } from '../../src/lib/errors.js'
import { fieldErrors, toProblem } from '../../src/lib/problem.js'

t.test('every code is TRM_-prefixed, has a 4xx/5xx status, a title and a unique problem type', async (t) => {
  const types = new Set<string>()
  for (const [code, entry] of Object.entries(ERRORS)) {
    t.match(code, /^TRM_[A-Z_]+$/, code)
    t.ok(entry.status >= 400 && entry.status < 600, `${code} status`)
    t.ok(entry.title.length > 0, `${code} title`)
    types.add(problemType(code as keyof typeof ERRORS))
  }
  t.equal(types.size, Object.keys(ERRORS).length)
})

t.test('a HubError carries its catalog status and a pointer', async (t) => {
  const error = new HubError('TRM_RECIPIENT_INVALID', 'no NCP for XX', { pointer: '/recipient/country' })
  t.equal(error.status, 422)
  t.same(error.errors, [{ pointer: '/recipient/country', detail: 'no NCP for XX' }])
})

t.test('a problem has the RFC 9457 members and the request id as instance', async (t) => {
  const problem = toProblem('TRM_NOT_FOUND', 'no such referral', 'req-1')
  t.same(problem, {
    type: 'urn:trm-hub:problem:not-found',
    title: 'Not found',
    status: 404,
    detail: 'no such referral',
    instance: 'urn:trm-hub:request:req-1',
    code: 'TRM_NOT_FOUND',
  })
})

t.test('schema errors become JSON pointers naming the field', async (t) => {
  const errors = fieldErrors([
    {
      keyword: 'boolean',
      schemaPath: '#/properties/victim/additionalProperties',
      instancePath: '/victim/name',
      params: {},
    },
    {
      keyword: 'additionalProperties',
      schemaPath: '#/properties/victim',
      instancePath: '/victim',
      params: { additionalProperties: ['name'] },
    },
    { keyword: 'required', schemaPath: '#', instancePath: '', params: { requiredProperties: ['id'] } },
    {
      keyword: 'maxLength',
      schemaPath: '#/properties/a',
      instancePath: '/a~1b',
      params: {},
      message: 'too long',
    },
  ])
  t.same(errors, [
    { pointer: '/victim/name', detail: 'unknown member is not allowed' },
    { pointer: '/id', detail: 'is required' },
    { pointer: '/a~1b', detail: 'too long' },
  ])
})

t.test('every code is documented in the OpenAPI document and raised somewhere in src/', async (t) => {
  const { readFile, readdir } = await import('node:fs/promises')
  const { join } = await import('node:path')
  const root = new URL('../../', import.meta.url).pathname
  const document = JSON.parse(await readFile(join(root, 'openapi/openapi.json'), 'utf8'))
  const documented: string[] = document.components.schemas.Problem.properties.code.enum
  t.same([...documented].sort(), Object.keys(ERRORS).sort(), 'Problem.code lists exactly the catalog')
  const files = (await readdir(join(root, 'src'), { recursive: true })).filter(
    (f) => f.endsWith('.ts') && f !== join('lib', 'errors.ts'),
  )
  const source = (await Promise.all(files.map((f) => readFile(join(root, 'src', f), 'utf8')))).join('\n')
  for (const code of Object.keys(ERRORS)) t.match(source, `'${code}'`, `${code} is raised somewhere`)
})
