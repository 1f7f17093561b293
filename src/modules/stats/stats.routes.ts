import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { problems, Ref, secured } from '../../lib/schemas.js'
import { ReferralStatisticsSchema, StatsQuerySchema } from './stats.schemas.js'
import { referralStatistics } from './stats.service.js'

const DESCRIPTION = [
  'Counts of the referrals submitted in one calendar quarter (UTC) that has ended, grouped by one or two ' +
    'dimensions: originCountry and destinationCountry (of the sending and receiving agencies), ' +
    'exploitationForm, ageGroup, minor, gender, urgency, status. A national contact point sees the cells of ' +
    'the country group holding its country (groupBy names originCountry or destinationCountry); the ' +
    'operator sees all.',
  'Each quarter is released once, after it has ended, and then frozen: every table of the quarter is a ' +
    'view of that one release, and later changes to referrals do not change it. Nothing is suppressed: ' +
    'values are merged into groups (`categories`, each with the values it stands for) until every count ' +
    'of every table of the release is at least `minCell` (STATS_MIN_CELL, default 11); a quarter with ' +
    'fewer referrals publishes nothing else. Months, years and quarters that have not ended are refused.',
  'A referral counts once in each exploitationForm category holding one of its forms; totals are sums of ' +
    'the cells shown. The answer’s `notes` say how to read it.',
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
        summary: 'Released quarterly counts of referrals (national contact points, operator)',
        description: DESCRIPTION,
        security: secured('stats:read'),
        querystring: StatsQuerySchema,
        response: { 200: Ref(ReferralStatisticsSchema), ...problems(400, 401, 403, 429) },
      },
    },
    async (request) => referralStatistics(deps, request.caller, request.query, String(request.id)),
  )
}
