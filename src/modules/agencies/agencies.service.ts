import type { Kysely } from 'kysely'
import type { Config } from '../../config.js'
import type { AgencyKeyRow, AgencyRow, Database } from '../../db/types.js'
import { decodeCursor, encodeCursor, isIdCursor } from '../../lib/cursor.js'
import { type FieldError, HubError } from '../../lib/errors.js'
import { newId } from '../../lib/ids.js'
import { isUniqueViolation } from '../../lib/pg-errors.js'
import { recordAuditEvent } from '../ledger/audit.service.js'
import { cancelUndeliverable } from '../ledger/deliveries.repository.js'
import * as repo from './agencies.repository.js'
import {
  type Agency,
  type AgencyCreate,
  type AgencyKind,
  type AgencyPatch,
  type Delivery,
  MAX_AGENCY_KEYS,
  type PublicJwk,
  type RegisteredKey,
} from './agencies.schemas.js'
import { type AgencyChange, type DirectoryCaller, directoryChangeRefusal } from './agency-access.core.js'
import { canonicalPublicJwk, checkKeyShape, privateMembers } from './keys.core.js'
import { checkWebhookUrl } from './webhook-url.core.js'

export interface DirectoryDeps {
  db: Kysely<Database>
  config: { webhooks: Pick<Config['webhooks'], 'allowLoopback'> }
}

export interface Actor {
  agencyId: string
  requestId?: string
}

export function toRegisteredKey(row: AgencyKeyRow): RegisteredKey {
  const jwk = row.jwk as PublicJwk
  return {
    ...canonicalPublicJwk(jwk),
    status: row.status,
    createdAt: row.created_at.toISOString(),
    ...(row.revoked_at ? { revokedAt: row.revoked_at.toISOString() } : {}),
  }
}

export function toAgency(row: AgencyRow, keys: AgencyKeyRow[]): Agency {
  return {
    id: row.id,
    name: row.name,
    country: row.country,
    kind: row.kind as AgencyKind,
    nationalContactPoint: row.national_contact_point,
    status: row.status,
    delivery: row.delivery_mode === 'push' ? { mode: 'push', url: row.delivery_url! } : { mode: 'pull' },
    jwks: { keys: keys.map(toRegisteredKey) },
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  }
}

function checkKeys(keys: PublicJwk[], pointer: string): void {
  const errors: FieldError[] = []
  const privateErrors = keys.flatMap((k, i) =>
    privateMembers(k as Record<string, unknown>, `${pointer}/${i}`),
  )
  if (privateErrors.length > 0) {
    throw new HubError(
      'TRM_PRIVATE_KEY_REFUSED',
      'Private key material was sent; register public keys only.',
      {
        errors: privateErrors,
      },
    )
  }
  const kids = new Set<string>()
  keys.forEach((key, i) => {
    errors.push(...checkKeyShape(key, `${pointer}/${i}`))
    if (kids.has(key.kid)) errors.push({ pointer: `${pointer}/${i}/kid`, detail: 'kid is used twice' })
    kids.add(key.kid)
  })
  if (errors.length > 0) throw new HubError('TRM_VALIDATION', 'A key is not acceptable.', { errors })
}

function deliveryColumns(delivery: Delivery | undefined, deps: DirectoryDeps, pointer: string) {
  if (!delivery || delivery.mode === 'pull') return { delivery_mode: 'pull' as const, delivery_url: null }
  const problem = checkWebhookUrl(delivery.url, deps.config.webhooks.allowLoopback)
  if (problem) throw new HubError('TRM_VALIDATION', problem, { pointer: `${pointer}/url` })
  return { delivery_mode: 'push' as const, delivery_url: delivery.url }
}

const ncpConflict = (country: string) =>
  new HubError('TRM_DIRECTORY_CONFLICT', `${country} already has a national contact point.`, {
    pointer: '/nationalContactPoint',
  })

export async function createAgency(deps: DirectoryDeps, input: AgencyCreate, actor: Actor): Promise<Agency> {
  checkKeys(input.jwks.keys, '/jwks/keys')
  const delivery = deliveryColumns(input.delivery, deps, '/delivery')
  try {
    return await deps.db.transaction().execute(async (trx) => {
      const row = await repo.insertAgency(trx, {
        id: newId(),
        name: input.name,
        country: input.country,
        kind: input.kind,
        national_contact_point: input.nationalContactPoint ?? false,
        ...delivery,
      })
      const keys = []
      for (const key of input.jwks.keys) {
        const jwk = canonicalPublicJwk(key)
        keys.push(
          await repo.insertKey(trx, {
            agency_id: row.id,
            kid: key.kid,
            use: key.use,
            alg: key.alg,
            jwk: JSON.stringify(jwk),
          }),
        )
      }
      await recordAuditEvent(trx, {
        actor: actor.agencyId,
        action: 'agency.created',
        target: { type: 'agency', id: row.id },
        requestId: actor.requestId,
        outcome: 'success',
        details: { country: row.country, kind: row.kind, keys: keys.length },
      })
      return toAgency(row, keys)
    })
  } catch (error) {
    if (isUniqueViolation(error, 'agencies_one_ncp_per_country')) throw ncpConflict(input.country)
    throw error
  }
}

export async function getAgency(deps: Pick<DirectoryDeps, 'db'>, id: string): Promise<Agency> {
  const row = await repo.findAgency(deps.db, id)
  if (!row) throw new HubError('TRM_NOT_FOUND', 'No agency with this id.', { pointer: '/params/id' })
  return toAgency(row, await repo.listKeys(deps.db, [id]))
}

export async function listAgencies(
  deps: Pick<DirectoryDeps, 'db'>,
  query: { country?: string; kind?: string; nationalContactPoint?: boolean; after?: string; limit?: number },
): Promise<{ items: Agency[]; next: string | null }> {
  const limit = query.limit ?? 50
  const after = decodeCursor(query.after, isIdCursor)
  const rows = await repo.listAgencies(deps.db, { ...query, afterId: after?.id, limit })
  const keys = await repo.listKeys(
    deps.db,
    rows.map((r) => r.id),
  )
  const items = rows.map((row) =>
    toAgency(
      row,
      keys.filter((k) => k.agency_id === row.id),
    ),
  )
  const last = rows.at(-1)
  return { items, next: rows.length === limit && last ? encodeCursor({ id: last.id }) : null }
}

/** Throws 403 unless the caller may make this change (see {@link directoryChangeRefusal}). */
function assertMayChange(actor: Actor & DirectoryCaller, id: string, change: AgencyChange): void {
  const refusal = directoryChangeRefusal(actor, id, change)
  if (refusal) {
    throw new HubError('TRM_AUTH_FORBIDDEN', refusal.detail, refusal.errors ? { errors: refusal.errors } : {})
  }
}

export async function patchAgency(
  deps: DirectoryDeps,
  id: string,
  patch: AgencyPatch,
  actor: Actor & DirectoryCaller,
): Promise<Agency> {
  assertMayChange(actor, id, { fields: Object.keys(patch) })
  const delivery = patch.delivery ? deliveryColumns(patch.delivery, deps, '/delivery') : {}
  try {
    return await deps.db.transaction().execute(async (trx) => {
      const current = await repo.lockAgency(trx, id)
      if (!current) throw new HubError('TRM_NOT_FOUND', 'No agency with this id.', { pointer: '/params/id' })
      const row = await repo.updateAgency(trx, id, {
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.kind !== undefined ? { kind: patch.kind } : {}),
        ...(patch.nationalContactPoint !== undefined
          ? { national_contact_point: patch.nationalContactPoint }
          : {}),
        ...(patch.status !== undefined ? { status: patch.status } : {}),
        ...delivery,
      })
      // Switching to pull ends what was still waiting to be pushed (the inbox has every message).
      const cancelledDeliveries =
        current.delivery_mode === 'push' && row.delivery_mode !== 'push'
          ? await cancelUndeliverable(
              trx,
              { agencyId: id },
              { actor: actor.agencyId, requestId: actor.requestId ?? null },
            )
          : 0
      await recordAuditEvent(trx, {
        actor: actor.agencyId,
        action: 'agency.updated',
        target: { type: 'agency', id },
        requestId: actor.requestId,
        outcome: 'success',
        details: {
          fields: Object.keys(patch).sort().join(','),
          status: row.status,
          ...(cancelledDeliveries > 0 ? { cancelledDeliveries } : {}),
        },
      })
      return toAgency(row, await repo.listKeys(trx, [id]))
    })
  } catch (error) {
    if (isUniqueViolation(error, 'agencies_one_ncp_per_country')) throw ncpConflict('This country')
    throw error
  }
}

export async function addKey(
  deps: DirectoryDeps,
  id: string,
  key: PublicJwk,
  actor: Actor & DirectoryCaller,
): Promise<RegisteredKey> {
  assertMayChange(actor, id, { keys: true })
  checkKeys([key], '')
  try {
    return await deps.db.transaction().execute(async (trx) => {
      if (!(await repo.lockAgency(trx, id))) throw new HubError('TRM_NOT_FOUND', 'No agency with this id.')
      if ((await repo.countKeys(trx, id)) >= MAX_AGENCY_KEYS) {
        throw new HubError(
          'TRM_DIRECTORY_CONFLICT',
          `An agency holds at most ${MAX_AGENCY_KEYS} keys, revoked ones included.`,
        )
      }
      const row = await repo.insertKey(trx, {
        agency_id: id,
        kid: key.kid,
        use: key.use,
        alg: key.alg,
        jwk: JSON.stringify(canonicalPublicJwk(key)),
      })
      await recordAuditEvent(trx, {
        actor: actor.agencyId,
        action: 'key.added',
        target: { type: 'agency_key', id: `${id}/${key.kid}` },
        requestId: actor.requestId,
        outcome: 'success',
        details: { use: key.use, alg: key.alg },
      })
      return toRegisteredKey(row)
    })
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw new HubError('TRM_DIRECTORY_CONFLICT', 'This agency already has a key with this kid.', {
        pointer: '/kid',
      })
    }
    throw error
  }
}

export async function revokeKey(
  deps: DirectoryDeps,
  id: string,
  kid: string,
  actor: Actor & DirectoryCaller,
): Promise<RegisteredKey> {
  assertMayChange(actor, id, { keys: true })
  return deps.db.transaction().execute(async (trx) => {
    const row = await repo.revokeKey(trx, id, kid)
    if (!row)
      throw new HubError('TRM_NOT_FOUND', 'No key with this kid for this agency.', { pointer: '/params/kid' })
    await recordAuditEvent(trx, {
      actor: actor.agencyId,
      action: 'key.revoked',
      target: { type: 'agency_key', id: `${id}/${kid}` },
      requestId: actor.requestId,
      outcome: 'success',
    })
    return toRegisteredKey(row)
  })
}
