// Reading an ID token's exp without verifying it: the plugin got the token
// from the issuer over TLS (openid-client validated it then) and only needs
// to know when to get another.
export function tokenExpiry(jwt: string): Date | undefined {
  const part = jwt.split('.')[1];
  if (!part) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof claims.exp === 'number' ? new Date(claims.exp * 1000) : undefined;
  } catch {
    return undefined;
  }
}
