import type { Kysely } from 'kysely'
import { Compile } from 'typebox/compile'
import type { Config } from '../../config.js'
import { transact } from '../../db/after-commit.js'
import type { AgencyRow, Database, ReferralRow } from '../../db/types.js'
import { HubError } from '../../lib/errors.js'
import type { HubKeys } from '../../lib/hub-keys.js'
import { isUniqueViolation } from '../../lib/pg-errors.js'
import { fieldErrors } from '../../lib/problem.js'
import { RECEIPT_TYP, signHubStatement } from '../../lib/receipts.js'
import { findAgency, findNationalContactPoint, listKeys } from '../agencies/agencies.repository.js'
import { recordAuditEvent } from '../audit/audit.service.js'
import { deliverToInbox } from '../inbox/inbox.service.js'
import { enqueue } from '../outbox/outbox.service.js'
import { REFERRAL_TYP, type ReferralDocument, ReferralDocumentSchema } from './referral-document.schema.js'
import { ackDueAt, checkConsent, newVictimReference } from './referrals.core.js'
import * as repo from './referrals.repository.js'
import { checkSensitive } from './sensitive.js'
import { verifySignedDocument } from './signed-document.js'

export interface ReferralDeps {
  db: Kysely<Database>
  hubKeys: HubKeys
  config: Pick<Config, 'deadlines' | 'databaseSchema'>
  now: () => Date
}

export interface SubmissionResult {
  id: string
  status: string
  recipient: { agencyId: string; country: string }
  victimReference: string
  submittedAt: string
  ackDueAt: string
  receipt: string
  possibleDuplicates: number
}

const checkDocument = Compile(ReferralDocumentSchema)

function parseDocument(payload: unknown): ReferralDocument {
  if (!checkDocument.Check(payload)) {
    throw new HubError('TRM_DOCUMENT_INVALID', 'The signed referral document does not match the schema.', {
      errors: fieldErrors(checkDocument.Errors(payload) as never),
    })
  }
  return payload
}

async function resolveRecipient(db: Kysely<Database>, document: ReferralDocument): Promise<AgencyRow> {
  if ('country' in document.recipient) {
    const { country } = document.recipient
    const ncp = await findNationalContactPoint(db, country)
    if (ncp?.status !== 'active') {
      throw new HubError('TRM_RECIPIENT_INVALID', `${country} has no active national contact point.`, {
        pointer: '/recipient/country',
      })
    }
    if (ncp.id === document.sender) {
      throw new HubError('TRM_RECIPIENT_INVALID', 'An agency cannot refer a case to itself.', {
        pointer: '/recipient/country',
      })
    }
    return ncp
  }
  const agency = await findAgency(db, document.recipient.agencyId)
  if (agency?.status !== 'active' || agency.id === document.sender) {
    throw new HubError(
      'TRM_RECIPIENT_INVALID',
      'The recipient must be an active agency other than the sender.',
      {
        pointer: '/recipient/agencyId',
      },
    )
  }
  return agency
}

function toSubmission(row: ReferralRow, possibleDuplicates: number): SubmissionResult {
  return {
    id: row.id,
    status: row.status,
    recipient: { agencyId: row.recipient_id, country: row.recipient_country },
    victimReference: row.victim_reference,
    submittedAt: row.submitted_at.toISOString(),
    ackDueAt: row.ack_due_at.toISOString(),
    receipt: row.receipt,
    possibleDuplicates,
  }
}

async function replayOrRefuse(db: Kysely<Database>, existing: ReferralRow, callerId: string, digest: string) {
  if (existing.sender_id !== callerId || existing.payload_sha256 !== digest) {
    throw new HubError(
      'TRM_DUPLICATE_MISMATCH',
      'This referral id was already used for a different document.',
      {
        pointer: '/id',
      },
    )
  }
  const linked = existing.linkage_token
    ? await repo.findLinked(db, existing.linkage_token, existing.id, callerId)
    : undefined
  return { status: 200 as const, body: toSubmission(existing, linked?.count ?? 0) }
}

/**
 * Verifies, routes and stores a signed referral. In one transaction: the referral, the recipient's
 * inbox message, the deadline job (outbox) and the audit event. Nothing is written on failure.
 */
export async function submitReferral(
  deps: ReferralDeps,
  caller: { id: string; country: string },
  jws: string,
  requestId: string,
): Promise<{ status: 200 | 201; body: SubmissionResult }> {
  const verified = await verifySignedDocument(deps.db, caller.id, jws, REFERRAL_TYP)
  const document = parseDocument(verified.payload)
  if (document.sender !== caller.id) {
    throw new HubError('TRM_SENDER_MISMATCH', 'The document must name the calling agency as sender.', {
      pointer: '/sender',
    })
  }
  const existing = await repo.findReferral(deps.db, document.id)
  if (existing) return replayOrRefuse(deps.db, existing, caller.id, verified.payloadSha256)

  const recipient = await resolveRecipient(deps.db, document)
  const consentProblem = checkConsent(document, recipient.kind)
  if (consentProblem) {
    throw new HubError('TRM_CONSENT_INSUFFICIENT', consentProblem.detail, { pointer: consentProblem.pointer })
  }
  if (document.sensitive !== undefined) {
    checkSensitive(document.sensitive, await listKeys(deps.db, [recipient.id]))
  }
  if (
    document.victim.reference &&
    !(await repo.isReferenceKnownTo(deps.db, document.victim.reference, caller.id))
  ) {
    throw new HubError('TRM_VICTIM_REFERENCE_UNKNOWN', 'The victim reference is not one of your referrals.', {
      pointer: '/victim/reference',
    })
  }

  return store(deps, { caller, jws, document, payloadSha256: verified.payloadSha256, recipient, requestId })
}

interface Accepted {
  caller: { id: string; country: string }
  jws: string
  document: ReferralDocument
  payloadSha256: string
  recipient: AgencyRow
  requestId: string
}

async function store(
  deps: ReferralDeps,
  accepted: Accepted,
): Promise<{ status: 200 | 201; body: SubmissionResult }> {
  const { caller, jws, document, payloadSha256, recipient, requestId } = accepted
  try {
    return await transact(deps.db, async (trx) => {
      if (!(await repo.tryLockSubmission(trx, caller.id, document.id))) {
        throw new HubError(
          'TRM_IN_PROGRESS',
          'The same referral is being submitted right now; retry shortly.',
          {
            pointer: '/id',
          },
        )
      }
      const raced = await repo.findReferral(trx, document.id)
      if (raced) return replayOrRefuse(trx, raced, caller.id, payloadSha256)

      const submittedAt = deps.now()
      const due = ackDueAt(submittedAt, document.urgency, document.victim.minor, deps.config.deadlines)
      const receipt = await signHubStatement(deps.hubKeys, RECEIPT_TYP, {
        referralId: document.id,
        sender: caller.id,
        recipient: recipient.id,
        payloadSha256: payloadSha256,
        receivedAt: submittedAt.toISOString(),
      })
      const row = await repo.insertReferral(trx, {
        id: document.id,
        sender_id: caller.id,
        recipient_id: recipient.id,
        sender_country: caller.country,
        recipient_country: recipient.country,
        status: 'submitted',
        urgency: document.urgency,
        stage: document.stage,
        victim_reference: document.victim.reference ?? newVictimReference(),
        linkage_token: document.victim.linkageToken ?? null,
        age_group: document.victim.ageGroup,
        minor: document.victim.minor,
        gender: document.victim.gender,
        citizenship: document.victim.citizenship,
        exploitation_forms: document.exploitation.forms,
        exploitation_countries: document.exploitation.countries,
        identified_in: document.exploitation.identifiedIn,
        needs: document.needs,
        consent_status: document.consent.status,
        has_sensitive: document.sensitive !== undefined,
        jws,
        payload_sha256: payloadSha256,
        receipt,
        document_created_at: document.createdAt,
        submitted_at: submittedAt,
        ack_due_at: due,
      })
      await enqueue(trx, deps.config.databaseSchema, {
        queue: 'deadlines',
        name: 'ack-deadline',
        payload: { referralId: row.id },
        runAt: due,
      })
      await recordAuditEvent(trx, {
        actor: caller.id,
        action: 'referral.submitted',
        target: { type: 'referral', id: row.id },
        referralId: row.id,
        requestId,
        outcome: 'success',
        details: { recipient: recipient.id, urgency: row.urgency, payloadSha256: row.payload_sha256 },
      })
      const linked = row.linkage_token
        ? await repo.findLinked(trx, row.linkage_token, row.id, caller.id)
        : undefined
      await deliverToInbox(trx, deps.config, {
        agencyId: recipient.id,
        type: 'referral',
        referralId: row.id,
        jws,
      })
      return { status: 201 as const, body: toSubmission(row, linked?.count ?? 0) }
    })
  } catch (error) {
    // Another sender took this id between our check and our insert.
    if (isUniqueViolation(error, 'referrals_pkey')) {
      throw new HubError(
        'TRM_DUPLICATE_MISMATCH',
        'This referral id was already used for a different document.',
        {
          pointer: '/id',
        },
      )
    }
    throw error
  }
}
