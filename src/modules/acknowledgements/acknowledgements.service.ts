import type { Kysely } from 'kysely'
import type { Static } from 'typebox'
import type { Config } from '../../config.js'
import { transact } from '../../db/after-commit.js'
import type { AcknowledgementRow, Database } from '../../db/types.js'
import { HubError } from '../../lib/errors.js'
import type { HubKeys } from '../../lib/hub-keys.js'
import { oneOf } from '../../lib/one-of.js'
import { isUniqueViolation } from '../../lib/pg-errors.js'
import { fieldErrors } from '../../lib/problem.js'
import { RECEIPT_TYP, signHubStatement } from '../../lib/receipts.js'
import { compileInputCheck } from '../../lib/validator.js'
import { listKeys } from '../agencies/agencies.repository.js'
import { databaseKeys } from '../agencies/directory-cache.js'
import { recordAuditEvent } from '../ledger/audit.service.js'
import { deliverToInbox } from '../ledger/inbox.service.js'
import {
  ACK_TYPES,
  type AckType,
  AFTER_ALL_WITHDRAWN,
  CONSENT_ACK_TYPES,
  type ConsentScopeWithdrawn,
  REFERRAL_STATUSES,
  type ReferralStatus,
  TERMINAL,
  transition,
  withdrawable,
} from '../referrals/lifecycle.core.js'
import { notFound, partyRole } from '../referrals/referrals.read.js'
import { findReferral, lockReferral, updateReferral } from '../referrals/referrals.repository.js'
import { MAX_ACKNOWLEDGEMENTS } from '../referrals/referrals.schemas.js'
import { checkSensitive } from '../referrals/sensitive.js'
import { verifySignedDocument } from '../referrals/signed-document.js'
import {
  countAcknowledgements,
  findAcknowledgement,
  insertAcknowledgement,
  insertAcknowledgementPayload,
} from './acknowledgements.repository.js'
import {
  ACK_TYP,
  type AcknowledgementDocument,
  AcknowledgementDocumentSchema,
  type AcknowledgementResultSchema,
} from './acknowledgements.schemas.js'
import {
  eraseChainForWithdrawal,
  openErasuresOf,
  recordConfirmation,
  recordWithdrawal,
} from './consent.service.js'

export interface AcknowledgementDeps {
  db: Kysely<Database>
  hubKeys: HubKeys
  config: Pick<Config, 'databaseSchema' | 'consentErasureDeadlineSeconds'>
  now: () => Date
}

export type AcknowledgementResult = Static<typeof AcknowledgementResultSchema>

const checkDocument = compileInputCheck(AcknowledgementDocumentSchema)

function parseDocument(payload: unknown, referralId: string): AcknowledgementDocument {
  if (!checkDocument.Check(payload)) {
    throw new HubError('TRM_DOCUMENT_INVALID', 'The signed acknowledgement does not match the schema.', {
      errors: fieldErrors(checkDocument.Errors(payload)),
    })
  }
  const invalid = (pointer: string, detail: string) =>
    new HubError('TRM_DOCUMENT_INVALID', detail, { pointer })
  if (payload.referralId !== referralId)
    throw invalid('/referralId', 'referralId must be the referral in the URL.')
  if (payload.type === 'declined' && !payload.reason) throw invalid('/reason', 'declined needs a reason.')
  if (payload.type !== 'declined' && payload.reason)
    throw invalid('/reason', 'reason goes with declined only.')
  if (payload.type === 'closed' && !payload.outcome) throw invalid('/outcome', 'closed needs an outcome.')
  if (payload.type !== 'closed' && payload.outcome)
    throw invalid('/outcome', 'outcome goes with closed only.')
  if (payload.type === 'consent_withdrawn' && !payload.scope)
    throw invalid('/scope', 'consent_withdrawn needs a scope.')
  if (payload.type !== 'consent_withdrawn' && payload.scope)
    throw invalid('/scope', 'scope goes with consent_withdrawn only.')
  if (CONSENT_ACK_TYPES.has(payload.type) && payload.sensitive)
    throw invalid('/sensitive', `${payload.type} carries no sensitive member: the hub erases what it holds.`)
  return payload
}

const toResult = (row: AcknowledgementRow): AcknowledgementResult => ({
  id: row.id,
  referralId: row.referral_id,
  type: oneOf(ACK_TYPES, row.type),
  status: oneOf(REFERRAL_STATUSES, row.to_status),
  submittedAt: row.submitted_at.toISOString(),
  receipt: row.receipt,
})

function replayOrRefuse(existing: AcknowledgementRow, authorId: string, referralId: string, digest: string) {
  if (
    existing.author_id !== authorId ||
    existing.referral_id !== referralId ||
    existing.payload_sha256 !== digest
  ) {
    throw new HubError(
      'TRM_DUPLICATE_MISMATCH',
      'This acknowledgement id was already used for a different document.',
      {
        pointer: '/id',
      },
    )
  }
  return { status: 200 as const, body: toResult(existing) }
}

/**
 * Verifies and applies a signed acknowledgement: the lifecycle decides whether this party may send
 * this type now (403 wrong party, 409 wrong state); in one transaction it is stored byte for byte,
 * the referral's state changes, the other party is told, the event is audited and a receipt issued.
 */
export async function submitAcknowledgement(
  deps: AcknowledgementDeps,
  callerId: string,
  referralId: string,
  jws: string,
  requestId: string,
): Promise<{ status: 200 | 201; body: AcknowledgementResult }> {
  const referral = await findReferral(deps.db, referralId)
  const role = referral ? await partyRole(deps.db, referral, callerId) : undefined
  if (!referral || !role) throw notFound()
  if (role === 'escalation') {
    throw new HubError('TRM_AUTH_FORBIDDEN', 'Only the sender and the recipient acknowledge a referral.')
  }
  const verified = await verifySignedDocument(databaseKeys(deps.db), callerId, jws, ACK_TYP)
  const document = parseDocument(verified.payload, referralId)
  const existing = await findAcknowledgement(deps.db, document.id)
  if (existing) return replayOrRefuse(existing, callerId, referralId, verified.payloadSha256)
  const otherParty = role === 'sender' ? referral.recipient_id : referral.sender_id
  if (document.sensitive !== undefined)
    checkSensitive(document.sensitive, await listKeys(deps.db, [otherParty]))

  try {
    return await transact(deps.db, async (trx, afterCommit) => {
      const current = await lockReferral(trx, referralId)
      if (!current) throw notFound()
      const raced = await findAcknowledgement(trx, document.id)
      if (raced) return replayOrRefuse(raced, callerId, referralId, verified.payloadSha256)
      const from = current.status as ReferralStatus
      const withdrawn = current.consent_withdrawn as ConsentScopeWithdrawn[]
      const outcome = transition(from, document.type as AckType, role, withdrawn)
      if (!outcome.ok && outcome.problem === 'wrong-party') {
        throw new HubError(
          'TRM_AUTH_FORBIDDEN',
          `Only the ${outcome.allowedParty} may send ${document.type}.`,
          {
            pointer: '/type',
          },
        )
      }
      if (!outcome.ok && outcome.problem === 'consent-withdrawn') {
        throw new HubError(
          'TRM_INVALID_TRANSITION',
          `All consent was withdrawn; the referral takes only ${[...AFTER_ALL_WITHDRAWN].join(', ')}.`,
          { pointer: '/type' },
        )
      }
      if (!outcome.ok) {
        throw new HubError(
          'TRM_INVALID_TRANSITION',
          `The referral is ${from}; ${document.type} is not allowed now.`,
          {
            pointer: '/type',
          },
        )
      }
      // A withdrawal erases the chain but not the case: the lifecycle goes on as the scopes left allow.
      if (current.erased_at && withdrawn.length === 0 && !CONSENT_ACK_TYPES.has(document.type))
        throw new HubError('TRM_INVALID_TRANSITION', 'The referral was erased.')
      if (document.scope && !withdrawable(document.scope, withdrawn))
        throw new HubError('TRM_INVALID_TRANSITION', `Consent (${document.scope}) was withdrawn already.`, {
          pointer: '/scope',
        })
      // Requests for information and answers can go back and forth; a referral's view lists them all.
      if ((await countAcknowledgements(trx, referralId)) >= MAX_ACKNOWLEDGEMENTS) {
        throw new HubError(
          'TRM_CONFLICT',
          `A referral takes at most ${MAX_ACKNOWLEDGEMENTS} acknowledgements; this one has them all.`,
        )
      }
      const submittedAt = deps.now()
      const consent = {
        db: trx,
        afterCommit,
        config: deps.config,
        callerId,
        referralId,
        requestId,
        at: submittedAt,
      }
      const chain = document.type === 'consent_withdrawn' ? await eraseChainForWithdrawal(consent) : undefined
      const erasures = document.type === 'erasure_confirmed' ? await openErasuresOf(consent) : undefined
      const receipt = await signHubStatement(deps.hubKeys, RECEIPT_TYP, {
        acknowledgementId: document.id,
        referralId,
        author: callerId,
        payloadSha256: verified.payloadSha256,
        receivedAt: submittedAt.toISOString(),
      })
      const row = await insertAcknowledgement(trx, {
        id: document.id,
        referral_id: referralId,
        author_id: callerId,
        type: document.type,
        reason: document.reason ?? null,
        outcome: document.outcome ?? null,
        from_status: from,
        to_status: outcome.to,
        payload_sha256: verified.payloadSha256,
        receipt,
        submitted_at: submittedAt,
      })
      await insertAcknowledgementPayload(trx, { referral_id: referralId, acknowledgement_id: row.id, jws })
      await updateReferral(trx, referralId, {
        status: outcome.to,
        ...(outcome.to === 'received' && !current.received_at ? { received_at: submittedAt } : {}),
        ...(TERMINAL.has(outcome.to) ? { terminal_at: submittedAt } : {}),
      })
      await recordAuditEvent(trx, {
        actor: callerId,
        action: 'acknowledgement.submitted',
        target: { type: 'acknowledgement', id: row.id },
        referralId,
        requestId,
        outcome: 'success',
        details: { type: row.type, from, to: outcome.to, payloadSha256: row.payload_sha256 },
      })
      if (chain && document.scope)
        await recordWithdrawal(consent, chain, { id: row.id, scope: document.scope })
      else if (erasures) await recordConfirmation(consent, erasures, row.id)
      else
        await deliverToInbox(trx, afterCommit, deps.config, {
          agencyId: otherParty,
          type: 'acknowledgement',
          referralId,
          acknowledgementId: row.id,
        })
      return { status: 201 as const, body: toResult(row) }
    })
  } catch (error) {
    if (isUniqueViolation(error, 'acknowledgements_pkey')) {
      throw new HubError('TRM_DUPLICATE_MISMATCH', 'This acknowledgement id was already used.', {
        pointer: '/id',
      })
    }
    throw error
  }
}
