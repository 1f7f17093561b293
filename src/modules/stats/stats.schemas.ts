import { Type } from 'typebox'
import { CountryCode, DateTime } from '../../lib/schemas.js'
import { REFERRAL_STATUSES } from '../acknowledgements/lifecycle.core.js'
import { AGE_GROUPS, EXPLOITATION_FORMS, GENDERS, URGENCIES } from '../referrals/referral-document.schema.js'
import { DIMENSIONS } from './stats.dimensions.js'

const Instant = (what: string) =>
  Type.Union([Type.String({ format: 'date' }), Type.String({ format: 'date-time' })], {
    description: `${what}: a date (YYYY-MM-DD, midnight UTC) or an RFC 3339 time`,
  })

export const StatsQuerySchema = Type.Object(
  {
    groupBy: Type.String({
      minLength: 1,
      maxLength: 200,
      description: `One or two dimensions, comma-separated, not repeated: ${DIMENSIONS.join(', ')}`,
      examples: ['originCountry,month'],
    }),
    from: Type.Optional(Instant('Start of the period, included; default twelve months before `to`')),
    to: Type.Optional(Instant('End of the period, excluded; default the start of next month (UTC)')),
  },
  { additionalProperties: false },
)

export const StatsKeySchema = Type.Object(
  {
    originCountry: Type.Optional(CountryCode),
    destinationCountry: Type.Optional(CountryCode),
    exploitationForm: Type.Optional(Type.Enum(EXPLOITATION_FORMS)),
    ageGroup: Type.Optional(Type.Enum(AGE_GROUPS)),
    gender: Type.Optional(Type.Enum(GENDERS)),
    minor: Type.Optional(Type.Boolean()),
    urgency: Type.Optional(Type.Enum(URGENCIES)),
    status: Type.Optional(Type.Enum([...REFERRAL_STATUSES])),
    month: Type.Optional(Type.String({ pattern: '^[0-9]{4}-(0[1-9]|1[0-2])$', description: 'UTC, YYYY-MM' })),
  },
  { $id: 'StatsKey', additionalProperties: false, description: 'The value of each grouped dimension' },
)

const countProperties = {
  count: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'null when suppressed' }),
  suppressed: Type.Boolean(),
}

export const StatsCellSchema = Type.Object(
  { key: Type.Ref('StatsKey'), ...countProperties },
  { $id: 'StatsCell' },
)

export const ReferralStatisticsSchema = Type.Object(
  {
    groupBy: Type.Array(Type.Enum(DIMENSIONS)),
    from: DateTime,
    to: DateTime,
    scope: Type.Union([Type.Literal('all'), CountryCode], {
      description:
        "'all' for the operator; for a national contact point its country: referrals sent from or to it",
    }),
    minCell: Type.Integer({ description: 'Counts below this are suppressed (STATS_MIN_CELL)' }),
    cells: Type.Array(Type.Ref('StatsCell'), {
      description:
        'Every combination of the dimensions’ values, zeros included, rows of the first dimension first',
    }),
    totals: Type.Object({
      rows: Type.Optional(
        Type.Array(Type.Ref('StatsCell'), {
          description: 'Per value of the first dimension (two dimensions)',
        }),
      ),
      columns: Type.Optional(
        Type.Array(Type.Ref('StatsCell'), {
          description: 'Per value of the second dimension (two dimensions)',
        }),
      ),
      grand: Type.Object(countProperties),
    }),
    notes: Type.Array(Type.String(), { description: 'How to read these counts' }),
  },
  { $id: 'ReferralStatistics' },
)

export const STATS_SCHEMAS = [StatsKeySchema, StatsCellSchema, ReferralStatisticsSchema]
