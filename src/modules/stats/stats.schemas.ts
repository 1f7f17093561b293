import { Type } from 'typebox'
import { CountryCode, DateTime, Int32, Int64, Matching, Text } from '../../lib/schemas.js'
import { REFERRAL_STATUSES } from '../referrals/lifecycle.core.js'
import { AGE_GROUPS, EXPLOITATION_FORMS, GENDERS, URGENCIES } from '../referrals/referral-document.schema.js'
import { DIMENSIONS, MAX_DIMENSIONS } from './stats.dimensions.js'
import { MAX_CELLS } from './stats.service.js'

const Instant = (what: string) =>
  Type.Union([Type.String({ format: 'date', maxLength: 10 }), DateTime], {
    description: `${what}: a date (YYYY-MM-DD, midnight UTC) or an RFC 3339 time`,
  })

export const StatsQuerySchema = Type.Object(
  {
    groupBy: Matching('^[A-Za-z]+(?:,[A-Za-z]+)*$', 200, {
      minLength: 1,
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
    month: Type.Optional(Matching('^[0-9]{4}-(0[1-9]|1[0-2])$', 7, { description: 'UTC, YYYY-MM' })),
  },
  { $id: 'StatsKey', additionalProperties: false, description: 'The value of each grouped dimension' },
)

const countProperties = {
  count: Type.Union([Int64(0), Type.Null()], { description: 'null when suppressed' }),
  suppressed: Type.Boolean(),
}

export const StatsCellSchema = Type.Object(
  { key: Type.Ref('StatsKey'), ...countProperties },
  { $id: 'StatsCell' },
)

export const ReferralStatisticsSchema = Type.Object(
  {
    groupBy: Type.Array(Type.Enum(DIMENSIONS), { minItems: 1, maxItems: MAX_DIMENSIONS }),
    from: DateTime,
    to: DateTime,
    scope: Type.Union([Type.Literal('all'), CountryCode], {
      description:
        "'all' for the operator; for a national contact point its country: referrals sent from or to it",
    }),
    minCell: Int32(1, 1_000_000, { description: 'Counts below this are suppressed (STATS_MIN_CELL)' }),
    cells: Type.Array(Type.Ref('StatsCell'), {
      maxItems: MAX_CELLS,
      description:
        'Every combination of the dimensions’ values, zeros included, rows of the first dimension first',
    }),
    totals: Type.Object({
      rows: Type.Optional(
        Type.Array(Type.Ref('StatsCell'), {
          maxItems: MAX_CELLS,
          description: 'Per value of the first dimension (two dimensions)',
        }),
      ),
      columns: Type.Optional(
        Type.Array(Type.Ref('StatsCell'), {
          maxItems: MAX_CELLS,
          description: 'Per value of the second dimension (two dimensions)',
        }),
      ),
      grand: Type.Object(countProperties),
    }),
    notes: Type.Array(Text(1000), { maxItems: 20, description: 'How to read these counts' }),
  },
  { $id: 'ReferralStatistics' },
)

export const STATS_SCHEMAS = [StatsKeySchema, StatsCellSchema, ReferralStatisticsSchema]
