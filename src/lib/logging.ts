/** Paths never written to the log: credentials, signed documents, encrypted details, bodies. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.body',
  'res.body',
  'body',
  '*.jws',
  '*.sensitive',
  '*.client_assertion',
  '*.access_token',
]

export const redact = { paths: REDACTED_PATHS, censor: '[redacted]' }
