/**
 * POST /v1/tokens: a tenant's server trades its API key for a short-lived client token that its
 * web page then presents to /v1/allocate and /v1/measurements (src/tenants/client-token.ts). The
 * request is authenticated and rate-limited like any keyed call; a token cannot mint tokens. The
 * token's origins must be among the key's own when the key has any (default: the key's). Must not
 * import relay/.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { ApiKeyRecord, Principal, TenantStore } from '../src/tenants/api-keys.ts';
import { isOrigin, mintClientToken } from '../src/tenants/client-token.ts';
import type { Answer, TokenAnswer } from './answers.ts';
import { tokensRoute } from './api-routes.ts';
import { problem } from './problems.ts';
import { TokenRequest } from './schemas.ts';
import { validJson } from './validation.ts';

export interface TokenRouteOptions {
  readonly tenants: TenantStore;
  /** The signing key (the first TURN secret's derived key). */
  readonly signingKey: () => Promise<Uint8Array | undefined>;
  readonly now: () => number;
  /** A fresh client id, for tokens whose server names none (the same ids /v1/allocate makes). */
  readonly newClientId: () => string;
}

export function mountTokens(
  app: OpenAPIHono<{ Variables: { principal: Principal | undefined } }>,
  o: TokenRouteOptions,
): void {
  app.openAPIRegistry.registerPath(tokensRoute);
  app.post('/v1/tokens', validJson(TokenRequest), async (c) => {
    const principal = c.get('principal');
    if (!principal) return problem(c, 403, 'API key required', 'mint client tokens with an API key');
    if (principal.token)
      return problem(c, 403, 'API key required', 'a client token cannot mint tokens; use the API key');
    const req = c.req.valid('json');
    const bad = req.origins?.find((x) => !isOrigin(x));
    if (bad !== undefined)
      return problem(
        c,
        422,
        'Invalid request',
        `origins: "${bad}" is not an origin like https://app.example.com`,
      );
    let record: ApiKeyRecord | undefined;
    try {
      record = await o.tenants.getKey(principal.keyId);
    } catch {
      return problem(c, 503, 'Key store unavailable', 'the key store could not be read; retry shortly');
    }
    const keyOrigins = record?.origins ?? [];
    const origins = req.origins ?? keyOrigins;
    const outside = keyOrigins.length > 0 ? origins.find((x) => !keyOrigins.includes(x)) : undefined;
    if (outside !== undefined || (keyOrigins.length > 0 && origins.length === 0))
      return problem(
        c,
        403,
        'Origin not allowed',
        `this key may mint tokens for ${keyOrigins.join(', ')} only`,
      );
    const key = await o.signingKey();
    if (!key) return problem(c, 500, 'Edge misconfigured', 'no TURN secret configured');
    const nowSeconds = Math.floor(o.now() / 1000);
    const claims = {
      tenant: principal.tenant.id,
      keyId: principal.keyId,
      client: req.client ?? o.newClientId(),
      room: req.room,
      origins,
      expiresAt: nowSeconds + req.ttl,
    };
    const token = await mintClientToken(key, claims, nowSeconds);
    return c.json(
      {
        token,
        expiresAt: claims.expiresAt,
        tenant: claims.tenant,
        client: claims.client,
        ...(claims.room ? { room: claims.room } : {}),
        origins: [...origins],
      } satisfies Answer<typeof TokenAnswer>,
      200,
      { 'cache-control': 'no-store' },
    );
  });
}
