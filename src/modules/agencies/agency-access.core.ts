import type { FieldError } from '../../lib/errors.js'

/** Who asks: the agency (an operator by its kind) and the scopes its token carries. */
export interface DirectoryCaller {
  agencyId: string
  operator: boolean
  scopes: readonly string[]
}

/** A change to an agency: fields of a PATCH, or its keys. */
export type AgencyChange = { fields: readonly string[] } | { keys: true }

/** What an agency may change of itself; everything else is the operator's. */
const SELF_EDITABLE = new Set(['delivery'])

/** Why a change is refused (403), or undefined when the caller may make it. */
export interface AccessRefusal {
  detail: string
  errors?: FieldError[]
}

/**
 * An agency changes its own delivery settings and keys with `agency:write`. Everything else (another
 * agency, or what only the operator sets, such as its name or its suspension) is an admin action: an
 * operator's, with `agencies:admin` in its token. An operator's kind alone is not enough, so a token
 * asked for with fewer scopes (for a tool that only reads the directory) cannot change it.
 */
export function directoryChangeRefusal(
  caller: DirectoryCaller,
  agencyId: string,
  change: AgencyChange,
): AccessRefusal | undefined {
  const admin = caller.operator && caller.scopes.includes('agencies:admin')
  const own = caller.agencyId === agencyId
  const operatorFields = 'fields' in change ? change.fields.filter((f) => !SELF_EDITABLE.has(f)) : []
  if (own && operatorFields.length === 0) {
    if (admin || caller.scopes.includes('agency:write')) return undefined
    return { detail: 'This call needs the scope agency:write.' }
  }
  if (admin) return undefined
  if (caller.operator) return { detail: 'This call needs the scope agencies:admin.' }
  if (!own) {
    return {
      detail:
        'keys' in change
          ? "Only the agency itself or an operator may manage the agency's keys."
          : 'Only an operator may change another agency.',
    }
  }
  return {
    detail: 'An agency may change only its own delivery settings.',
    errors: operatorFields.map((k) => ({ pointer: `/${k}`, detail: 'only an operator may change this' })),
  }
}
