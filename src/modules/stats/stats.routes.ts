import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { problems, secured } from '../../lib/schemas.js'
import { StatsQuerySchema } from './stats.schemas.js'
import { referralStatistics } from './stats.service.js'

const DESCRIPTION = [
  'Counts of referrals submitted in the half-open period [from, to), grouped by one or two dimensions: ' +
    'originCountry and destinationCountry (of the sending and receiving agencies), exploitationForm, ' +
    'ageGroup, gender, minor, urgency, status (current) and month (UTC, YYYY-MM). A national contact ' +
    'point sees the referrals sent from or to its country; the operator sees all.',
  'Small-cell suppression: every combination of values is listed, zeros included. A count below ' +
    '`minCell` (STATS_MIN_CELL, default 11), zero included, is returned as `{ count: null, suppressed: ' +
    'true }`, and so is a total below it. Secondary suppression then hides further cells until an exact ' +
    'audit shows that no suppressed count below `minCell` can be worked out from the published cells and ' +
    'totals (a reader knows only that a suppressed count is a whole number ≥ 0). Row and column totals ' +
    'are suppressed as the one-dimension answer for that dimension would be, so the two answers agree.',
  'A referral with several forms of exploitation counts once under each form; totals are sums of cells. ' +
    'The answer’s `notes` say how to read it. At most 5000 cells per answer.',
].join('\n\n')

export const statsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const deps = { db: app.db, minCell: app.config.statsMinCell, now: () => new Date() }

  app.get(
    '/v1/stats/referrals',
    {
      onRequest: app.authorize('stats:read'),
      schema: {
        operationId: 'getReferralStatistics',
        tags: ['stats'],
        summary:
          'Aggregate counts of referrals with small-cell suppression (national contact points, operator)',
        description: DESCRIPTION,
        security: secured('stats:read'),
        querystring: StatsQuerySchema,
        response: { 200: Type.Ref('ReferralStatistics'), ...problems(400, 401, 403, 429) },
      },
    },
    async (request) => referralStatistics(deps, request.caller, request.query, String(request.id)) as never,
  )
}
