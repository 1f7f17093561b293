/**
 * The one catalog of the hub's coded errors. Each becomes an RFC 9457 problem; `code` is stable
 * and documented for integrators, `title` is the short human summary of the problem type.
 */
export const ERRORS = {
  TRM_VALIDATION: { status: 400, title: 'Request is not valid' },
  TRM_BAD_REQUEST: { status: 400, title: 'Bad request' },
  TRM_PRIVATE_KEY_REFUSED: { status: 400, title: 'Private key material is refused' },
  TRM_AUDIT_TREE_SIZE: { status: 400, title: 'Tree size beyond the latest checkpoint' },
  TRM_AUTH_UNAUTHENTICATED: { status: 401, title: 'Authentication required' },
  TRM_AUTH_FORBIDDEN: { status: 403, title: 'Not allowed' },
  TRM_NOT_FOUND: { status: 404, title: 'Not found' },
  TRM_ROUTE_NOT_FOUND: { status: 404, title: 'No such route' },
  TRM_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  TRM_REQUEST_TIMEOUT: { status: 408, title: 'Request not received in time' },
  TRM_CONFLICT: { status: 409, title: 'Conflict' },
  TRM_IN_PROGRESS: { status: 409, title: 'Same request still being processed' },
  TRM_INVALID_TRANSITION: { status: 409, title: 'Transition not allowed in the current state' },
  TRM_BODY_TOO_LARGE: { status: 413, title: 'Request body too large' },
  TRM_URI_TOO_LONG: { status: 414, title: 'A path segment is too long' },
  TRM_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  TRM_DIRECTORY_CONFLICT: { status: 409, title: 'Directory conflict' },
  TRM_DELIVERY_NOT_FAILED: { status: 409, title: 'Only a failed delivery can be retried' },
  TRM_DELIVERY_NO_WEBHOOK: { status: 409, title: 'The agency takes no webhook deliveries now' },
  TRM_JWS_MALFORMED: { status: 422, title: 'Not a compact JWS' },
  TRM_JWS_HEADER_REFUSED: { status: 422, title: 'JWS header not accepted' },
  TRM_JWS_TYP: { status: 422, title: 'Wrong document type' },
  TRM_KEY_UNKNOWN: { status: 422, title: 'Signing key not usable' },
  TRM_SIGNATURE_INVALID: { status: 422, title: 'Signature does not verify' },
  TRM_SENDER_MISMATCH: { status: 422, title: 'Document names another author' },
  TRM_DOCUMENT_INVALID: { status: 422, title: 'Document is not valid' },
  TRM_RECIPIENT_INVALID: { status: 422, title: 'Recipient not acceptable' },
  TRM_CONSENT_INSUFFICIENT: { status: 422, title: 'Consent does not allow this referral' },
  TRM_SENSITIVE_INVALID: { status: 422, title: 'Sensitive member not acceptable' },
  TRM_VICTIM_REFERENCE_UNKNOWN: { status: 422, title: 'Victim reference not usable' },
  TRM_DUPLICATE_MISMATCH: { status: 422, title: 'Id already used for a different document' },
  TRM_ONWARD_PARENT_UNKNOWN: { status: 422, title: 'Onward referral: no such parent referral' },
  TRM_ONWARD_NOT_RECIPIENT: { status: 422, title: "Onward referral: only the parent's recipient may" },
  TRM_ONWARD_PARENT_NOT_RECEIVED: { status: 422, title: 'Onward referral: the parent was not received' },
  TRM_ONWARD_VICTIM_MISMATCH: { status: 422, title: "Onward referral: not the parent's victim reference" },
  TRM_ONWARD_CONSENT_MISSING: { status: 422, title: 'Onward referral: no onward_sharing consent' },
  TRM_ONWARD_CONSENT_WITHDRAWN: { status: 422, title: 'Onward referral: consent was withdrawn' },
  TRM_ONWARD_HANDLING_FORBIDS: { status: 422, title: 'Onward referral: handling forbids onward sharing' },
  TRM_COSIGNATURE_REFUSED: { status: 422, title: 'Cosignature not accepted' },
  TRM_RATE_LIMITED: { status: 429, title: 'Too many requests' },
  TRM_HEADERS_TOO_LARGE: { status: 431, title: 'Request headers too large' },
  TRM_INTERNAL: { status: 500, title: 'Internal error' },
  TRM_UNAVAILABLE: { status: 503, title: 'Service unavailable' },
  TRM_OVERLOADED: { status: 503, title: 'Hub overloaded' },
} as const satisfies Record<string, { status: number; title: string }>

export type ErrorCode = keyof typeof ERRORS

/** One failing field: an RFC 6901 JSON pointer into the request and what is wrong with it. */
export interface FieldError {
  pointer: string
  detail: string
}

/** An error the hub means to show to the caller as a problem document. */
export class HubError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly title: string
  readonly errors: FieldError[] | undefined
  readonly headers: Record<string, string> | undefined

  constructor(
    code: ErrorCode,
    detail: string,
    options: { errors?: FieldError[]; pointer?: string; headers?: Record<string, string> } = {},
  ) {
    super(detail)
    this.name = 'HubError'
    this.code = code
    this.status = ERRORS[code].status
    this.title = ERRORS[code].title
    this.errors = options.errors ?? (options.pointer ? [{ pointer: options.pointer, detail }] : undefined)
    this.headers = options.headers
  }
}

export const isHubError = (error: unknown): error is HubError => error instanceof HubError

/** The URI naming a problem type; stable, one per code. */
export const problemType = (code: ErrorCode): string =>
  `urn:trm-hub:problem:${code.slice(4).toLowerCase().replaceAll('_', '-')}`
