import { REFERRAL_STATUSES } from '../referrals/lifecycle.core.js'
import { AGE_GROUPS, EXPLOITATION_FORMS, GENDERS, URGENCIES } from '../referrals/referral-document.schema.js'
import type { Dimension } from './stats.dimensions.js'

/**
 * How the values of each dimension may be merged: a fixed, public tree per dimension whose leaves
 * are the values a referral carries and whose inner nodes are the groups a release may publish
 * instead (the root, `any`, is the dimension not broken down at all). A release picks one cut of
 * each tree (stats.release.core.ts); the trees themselves depend on nothing but the code lists and
 * the directory's countries, so they tell a reader nothing about referrals.
 */
export interface TreeNode {
  value: string
  children?: TreeNode[]
}

export const ANY = 'any'

const leaf = (value: string): TreeNode => ({ value })
const group = (value: string, children: (TreeNode | string)[]): TreeNode => ({
  value,
  children: children.map((c) => (typeof c === 'string' ? leaf(c) : c)),
})

/** Europe by the UN M49 subregions; every other country goes under `other_countries`. */
export const REGIONS: Record<string, readonly string[]> = {
  eastern_europe: ['BG', 'BY', 'CZ', 'HU', 'MD', 'PL', 'RO', 'RU', 'SK', 'UA'],
  northern_europe: ['DK', 'EE', 'FI', 'FO', 'GB', 'IE', 'IM', 'IS', 'JE', 'GG', 'LT', 'LV', 'NO', 'SE'],
  southern_europe: [
    'AD',
    'AL',
    'BA',
    'ES',
    'GI',
    'GR',
    'HR',
    'IT',
    'ME',
    'MK',
    'MT',
    'PT',
    'RS',
    'SI',
    'SM',
    'VA',
  ],
  western_europe: ['AT', 'BE', 'CH', 'DE', 'FR', 'LI', 'LU', 'MC', 'NL'],
}
export const OTHER_COUNTRIES = 'other_countries'

/** Regions holding at least one of the countries, each country under its own (a lone one directly). */
function countryTree(countries: readonly string[]): TreeNode {
  const sorted = [...new Set(countries)].sort()
  const regionOf = (country: string) =>
    Object.keys(REGIONS).find((region) => REGIONS[region]!.includes(country)) ?? OTHER_COUNTRIES
  const regions = [...Object.keys(REGIONS), OTHER_COUNTRIES].flatMap((region) => {
    const members = sorted.filter((country) => regionOf(country) === region)
    if (members.length === 0) return []
    return [members.length === 1 ? leaf(members[0]!) : group(region, members)]
  })
  return group(ANY, regions)
}

const FIXED_TREES: Record<Exclude<Dimension, 'originCountry' | 'destinationCountry'>, TreeNode> = {
  exploitationForm: group(ANY, [
    'sexual_exploitation',
    'forced_labour',
    group('forced_criminality_or_begging', ['forced_criminality', 'forced_begging']),
    group('other_forms', [
      'slavery_servitude',
      'organ_removal',
      'forced_marriage',
      'illegal_adoption',
      'surrogacy',
      'other',
    ]),
  ]),
  ageGroup: group(ANY, [
    group('0-17', ['0-8', '9-17']),
    group('18+', [
      group('18-29', [group('18-23', ['18-20', '21-23']), group('24-29', ['24-26', '27-29'])]),
      group('30+', ['30-38', group('39+', ['39-47', '48+'])]),
    ]),
    'unknown',
  ]),
  minor: group(ANY, ['false', 'true']),
  gender: group(ANY, ['female', 'male', group('other_or_unknown', ['other', 'unknown'])]),
  urgency: group(ANY, [group('immediate_or_urgent', ['immediate', 'urgent']), 'routine']),
  status: group(ANY, [
    group('awaiting_receipt', ['submitted', 'delivered']),
    group('in_progress', ['received', 'info_requested', 'accepted']),
    group('ended', ['declined', 'closed', 'withdrawn']),
  ]),
}

/** The leaves of a tree, in order. */
export function leavesOf(node: TreeNode): string[] {
  return node.children ? node.children.flatMap(leavesOf) : [node.value]
}

/** Every dimension's tree, the countries' built from the directory's countries. */
export function dimensionTrees(countries: readonly string[]): Record<Dimension, TreeNode> {
  const tree = countryTree(countries)
  return { originCountry: tree, destinationCountry: tree, ...FIXED_TREES }
}

/** The code lists the fixed trees must cover, exactly (checked by a unit test). */
export const CODE_LISTS: Record<keyof typeof FIXED_TREES, readonly string[]> = {
  exploitationForm: EXPLOITATION_FORMS,
  ageGroup: AGE_GROUPS,
  minor: ['false', 'true'],
  gender: GENDERS,
  urgency: URGENCIES,
  status: REFERRAL_STATUSES,
}
