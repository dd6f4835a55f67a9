// Why kubetape has no upstream credential for a caller, with the HTTP status
// the caller gets: 403 when it is about who they are (no role for their
// groups, STS refused their token), 503 when AWS could not be asked.
export class CredentialError extends Error {
  override name = 'CredentialError';
  constructor(
    readonly statusCode: 403 | 503,
    message: string,
  ) {
    super(message);
  }
}

/** Status and Status reason for a failure to get a credential; anything but a CredentialError is a 502. */
export function credentialFailure(err: unknown): { code: number; reason?: string; message: string } {
  if (err instanceof CredentialError)
    return { code: err.statusCode, reason: err.statusCode === 403 ? 'Forbidden' : 'ServiceUnavailable', message: `kubetape: ${err.message}` };
  return { code: 502, message: `kubetape could not obtain a credential for the upstream cluster: ${(err as Error).message}` };
}
