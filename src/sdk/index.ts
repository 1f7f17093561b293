// What an agency's own system needs to talk to the hub.
export {
  type AuditCheckpointJson,
  AuditProofError,
  type AuditTrailJson,
  auditLeafHash,
  type ConsistencyProofJson,
  type InclusionProofJson,
  type VerifiedCheckpoint,
  type VerifyCheckpointOptions,
  verifyCheckpoint,
  verifyConsistency,
  verifyInclusion,
  verifyTrail,
} from './audit-log.js'
export { createClientAssertion } from './client-assertion.js'
export {
  decryptSensitive,
  encryptSensitive,
  type ImportedSigningKey,
  type ReferralDocument,
  ReferralDocumentSchema,
  type SensitiveDetails,
  SensitiveDetailsSchema,
  type SigningKey,
  signAcknowledgement,
  signReferral,
  verifyAgencySignature,
  verifyReceipt,
} from './documents.js'
export { HubClient, type HubClientOptions, HubRequestError } from './hub-client.js'
export { type AgencyKeys, generateAgencyKeys, type SigningAlg } from './keys.js'
export { computeLinkageToken, type LinkageAttributes, normaliseLinkageText } from './linkage.js'
export { type InboxItem, verifyWebhook } from './webhooks.js'
