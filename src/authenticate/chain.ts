// Several ways to authenticate at once: static tokens for automation beside
// OIDC for people. A JWT-shaped token goes to OIDC (when configured) and
// anything else to the token file, so the answer a caller gets comes from
// the mechanism their token was meant for.
import { bearerToken, type AuthResult, type Authenticator } from './identity.js';
import { looksLikeJwt, type OidcAuthenticator } from './oidc/oidc-authenticator.js';

export class ChainAuthenticator implements Authenticator {
  constructor(
    private readonly tokenFile: Authenticator | undefined,
    private readonly oidc: OidcAuthenticator | undefined,
  ) {
    if (!tokenFile && !oidc) throw new Error('no authenticator configured');
  }

  async authenticate(authorization: string | undefined): Promise<AuthResult> {
    const token = bearerToken(authorization);
    if (token && this.oidc && looksLikeJwt(token)) {
      // A static token that happens to look like a JWT still works.
      const known = this.tokenFile ? await this.tokenFile.authenticate(authorization) : undefined;
      if (known?.ok) return known;
      return this.oidc.verify(token);
    }
    if (this.tokenFile) return this.tokenFile.authenticate(authorization);
    return this.oidc!.authenticate(authorization);
  }
}
