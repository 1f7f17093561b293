import { Type } from 'typebox'
import { DateTime, Int32, Int64, Matching, Text } from '../../lib/schemas.js'
import { DIMENSIONS, MAX_DIMENSIONS } from './stats.dimensions.js'
import { ANY, dimensionTrees, OTHER_COUNTRIES, REGIONS, type TreeNode } from './stats.hierarchy.js'

export const StatsQuerySchema = Type.Object(
  {
    groupBy: Matching('^[A-Za-z]+(?:,[A-Za-z]+)*$', 200, {
      minLength: 1,
      description: `One or two dimensions, comma-separated, not repeated: ${DIMENSIONS.join(', ')}`,
      examples: ['originCountry,ageGroup'],
    }),
    period: Type.Optional(
      Matching('^[0-9A-Za-z-]+$', 20, {
        minLength: 1,
        description:
          'A calendar quarter that has ended, YYYY-Qn (UTC); default the latest one released. Months, ' +
          'years and quarters that have not ended are refused.',
        examples: ['2026-Q1'],
      }),
    ),
  },
  { additionalProperties: false },
)

const nodeValues = (node: TreeNode): string[] => [node.value, ...(node.children ?? []).flatMap(nodeValues)]
const trees = dimensionTrees([])
const Category = (d: keyof typeof trees) => Type.Enum([...new Set(nodeValues(trees[d]))])
const CountryCategory = Matching(
  `^([A-Z]{2}|${[ANY, ...Object.keys(REGIONS), OTHER_COUNTRIES].join('|')})$`,
  20,
  {
    description: 'An ISO 3166-1 alpha-2 country, or a group of them',
  },
)
const MinorCategory = Type.Union([Type.Boolean(), Type.Literal(ANY)])

export const StatsKeySchema = Type.Object(
  {
    originCountry: Type.Optional(CountryCategory),
    destinationCountry: Type.Optional(CountryCategory),
    exploitationForm: Type.Optional(Category('exploitationForm')),
    ageGroup: Type.Optional(Category('ageGroup')),
    minor: Type.Optional(MinorCategory),
    gender: Type.Optional(Category('gender')),
    urgency: Type.Optional(Category('urgency')),
    status: Type.Optional(Category('status')),
  },
  {
    $id: 'StatsKey',
    additionalProperties: false,
    description: 'The category of each grouped dimension: a value, or a group of values (see categories)',
  },
)

export const StatsCellSchema = Type.Object(
  { key: Type.Ref('StatsKey'), count: Int64(0) },
  { $id: 'StatsCell' },
)

const CategoryValue = Type.Union([Text(40), Type.Boolean()])
const CategoryList = Type.Array(
  Type.Object({
    value: CategoryValue,
    members: Type.Array(CategoryValue, { maxItems: 300, description: 'The values it stands for' }),
  }),
  { maxItems: 300 },
)

export const ReferralStatisticsSchema = Type.Object(
  {
    period: Matching('^[0-9]{4}-Q[1-4]$', 7, { description: 'The calendar quarter' }),
    from: DateTime,
    to: DateTime,
    release: Type.Object({
      number: Int32(1, 32767, { description: 'Which release of the quarter (the hub makes one)' }),
      createdAt: DateTime,
      minCell: Int32(1, 1_000_000, { description: 'No published count is below this (STATS_MIN_CELL)' }),
      referrals: Type.Union([Int64(0), Type.Null()], {
        description: 'Referrals of the quarter; null when fewer than minCell, and then nothing is published',
      }),
    }),
    groupBy: Type.Array(Type.Enum(DIMENSIONS), { minItems: 1, maxItems: MAX_DIMENSIONS }),
    scope: Type.Union([Type.Literal('all'), Matching('^[A-Z]{2}$', 2)], {
      description:
        "'all' for the operator; for a national contact point its country: the cells of the country group holding it",
    }),
    categories: Type.Object(Object.fromEntries(DIMENSIONS.map((d) => [d, Type.Optional(CategoryList)])), {
      description: 'Per grouped dimension, the categories this release publishes, in order',
    }),
    cells: Type.Array(Type.Ref('StatsCell'), {
      maxItems: 90_000,
      description: 'Every combination of the categories (in scope), rows of the first dimension first',
    }),
    totals: Type.Object({
      rows: Type.Optional(
        Type.Array(Type.Ref('StatsCell'), {
          maxItems: 300,
          description: 'Sums of the cells per first category',
        }),
      ),
      columns: Type.Optional(
        Type.Array(Type.Ref('StatsCell'), {
          maxItems: 300,
          description: 'Sums of the cells per second category',
        }),
      ),
      grand: Type.Union([Int64(0), Type.Null()], {
        description: 'Sum of the cells; null when nothing is published',
      }),
    }),
    notes: Type.Array(Text(1000), { maxItems: 20, description: 'How to read these counts' }),
  },
  { $id: 'ReferralStatistics' },
)

export const STATS_SCHEMAS = [StatsKeySchema, StatsCellSchema, ReferralStatisticsSchema]
