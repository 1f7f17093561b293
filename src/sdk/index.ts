// What an agency's own system needs to talk to the hub.
export { createClientAssertion } from './client-assertion.js'
export { HubClient, type HubClientOptions, HubRequestError } from './hub-client.js'
export { type AgencyKeys, generateAgencyKeys, type SigningAlg } from './keys.js'
