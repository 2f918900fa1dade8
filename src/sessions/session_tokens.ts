/**
 * Session tokens: what POST /v1/sessions/token returns and POST /v1/sessions/start takes as
 * `Authorization: Bearer`. A JWT (HS256, signed with a random key made when the service starts)
 * naming one session. It can start its session until it expires; the session store makes it
 * good for one start. After the start it still names its session for stop and keep-alive, as
 * LiveAvatar's session token does, for as long as that session runs.
 */
import { randomBytes } from 'node:crypto';
import { SignJWT, errors, jwtVerify } from 'jose';

const ISSUER = 'gemini-avatar-sessions';
const AUDIENCE = 'session';

export interface SessionTokenClaims {
  sessionId: string;
  /** Unique per token (the JWT's jti). */
  tokenId: string;
  /** When the token stops being able to start its session, in ms since the epoch. */
  expiresAt: number;
}

export class SessionTokenError extends Error {
  override name = 'SessionTokenError';
  readonly expired: boolean;
  /** For an expired token: its claims (the signature was good). */
  readonly claims: SessionTokenClaims | undefined;

  constructor(message: string, claims?: SessionTokenClaims) {
    super(message);
    this.expired = claims !== undefined;
    this.claims = claims;
  }
}

export interface SessionTokensOptions {
  /** How long a token can start its session, in ms. */
  ttlMs: number;
  /** The clock (ms since the epoch). */
  now?: () => number;
}

function claimsOf(payload: Record<string, unknown>): SessionTokenClaims | undefined {
  const { sub, jti, exp } = payload;
  if (typeof sub !== 'string' || typeof jti !== 'string' || typeof exp !== 'number') {
    return undefined;
  }
  return { sessionId: sub, tokenId: jti, expiresAt: exp * 1000 };
}

export class SessionTokens {
  readonly #key = new Uint8Array(randomBytes(32));
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(options: SessionTokensOptions) {
    this.#ttlMs = options.ttlMs;
    this.#now = options.now ?? Date.now;
  }

  /** How long a token can start its session, in ms. */
  get ttlMs(): number {
    return this.#ttlMs;
  }

  async issue(sessionId: string): Promise<{ token: string; claims: SessionTokenClaims }> {
    const issuedAt = Math.floor(this.#now() / 1000);
    const expiresAt = issuedAt + Math.ceil(this.#ttlMs / 1000);
    const tokenId = randomBytes(16).toString('base64url');
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(sessionId)
      .setJti(tokenId)
      .setIssuedAt(issuedAt)
      .setExpirationTime(expiresAt)
      .sign(this.#key);
    return { token, claims: { sessionId, tokenId, expiresAt: expiresAt * 1000 } };
  }

  /**
   * The token's claims. Throws a SessionTokenError: `expired` (with the claims) when only its
   * time is up, plain when it is not a token this service signed.
   */
  async verify(token: string): Promise<SessionTokenClaims> {
    try {
      const { payload } = await jwtVerify(token, this.#key, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: AUDIENCE,
        currentDate: new Date(this.#now()),
      });
      const claims = claimsOf(payload);
      if (!claims) throw new SessionTokenError('not a valid session token');
      return claims;
    } catch (error) {
      if (error instanceof SessionTokenError) throw error;
      // jose checks the signature before the claims: an expired token here is one we signed.
      if (error instanceof errors.JWTExpired) {
        const claims = claimsOf(error.payload);
        if (claims) throw new SessionTokenError('session token expired', claims);
      }
      throw new SessionTokenError('not a valid session token');
    }
  }
}
