// What an agency's own system needs to talk to the hub.
export { createClientAssertion } from './client-assertion.js'
export {
  computeLinkageToken,
  decryptSensitive,
  encryptSensitive,
  type LinkageAttributes,
  normaliseLinkageText,
  type ReferralDocument,
  ReferralDocumentSchema,
  type SensitiveDetails,
  SensitiveDetailsSchema,
  signAcknowledgement,
  signReferral,
  verifyAgencySignature,
  verifyReceipt,
} from './documents.js'
export { HubClient, type HubClientOptions, HubRequestError } from './hub-client.js'
export { type AgencyKeys, generateAgencyKeys, type SigningAlg } from './keys.js'
export { type InboxItem, verifyWebhook } from './webhooks.js'
