import fp from 'fastify-plugin'
import { HubError } from '../lib/errors.js'
import { jsonTextTooDeep, MAX_JSON_DEPTH } from '../lib/json-limits.js'

/**
 * JSON bodies, read by Fastify's own parser (which refuses `__proto__` and `constructor` members)
 * only once a scan of the text has shown they nest at most MAX_JSON_DEPTH deep: schema checks and
 * serialisers recurse, and a body of 20,000 nested arrays must be a 400, not a stack overflow.
 */
export default fp(
  async function jsonBody(app) {
    const parse = app.getDefaultJsonParser('error', 'error')
    app.removeContentTypeParser('application/json')
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      const tooDeep = jsonTextTooDeep(body as string, MAX_JSON_DEPTH)
      if (tooDeep) {
        done(
          new HubError('TRM_VALIDATION', `The request body ${tooDeep.detail}.`, { pointer: tooDeep.pointer }),
          undefined,
        )
        return
      }
      parse(request, body as string, done)
    })
  },
  { name: 'trm-json-body' },
)
