/**
 * The OpenAPI 3.1 document of the edge, generated from the routes the app registered with
 * createRoute (workers/api-routes.ts): the same zod schemas validate the requests and type the
 * handlers, so the document cannot drift from them. Served at GET /v1/openapi.json and rendered
 * as the reference page at GET /docs (workers/api-docs.ts). Runtime-free. Must not import relay/.
 */
import type { OpenAPIHono, RouteConfig } from '@hono/zod-openapi';
import type { Env } from 'hono';
import { documentedOnly } from './api-routes.ts';

export type OpenApiDocument = ReturnType<OpenAPIHono['getOpenAPI31Document']>;

const SECURITY_SCHEMES = {
  admin: { type: 'http', scheme: 'bearer', description: 'the operator’s admin token (EDGE_ADMIN_TOKEN)' },
  apiKey: { type: 'http', scheme: 'bearer', description: 'an API key, rbk_<id>_<secret>' },
  apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'the same API key' },
  clientToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'from POST /v1/tokens' },
} as const;

/**
 * Adds what the app serves outside app.openapi (dashboard routes, metrics), the operations this
 * configuration does not mount (`unmounted`: the document describes the API, each operation says
 * when it is served) and the security schemes.
 */
export function registerDocumentation<E extends Env>(
  app: OpenAPIHono<E>,
  unmounted: readonly RouteConfig[],
): void {
  for (const route of [...unmounted, ...documentedOnly]) app.openAPIRegistry.registerPath(route);
  for (const [name, scheme] of Object.entries(SECURITY_SCHEMES))
    app.openAPIRegistry.registerComponent('securitySchemes', name, scheme);
}

/** The document, made once on first use (generating it walks every schema). */
export function openApiDocument<E extends Env>(app: OpenAPIHono<E>): () => OpenApiDocument {
  let doc: OpenApiDocument | undefined;
  return () => {
    doc ??= app.getOpenAPI31Document({
      openapi: '3.1.0',
      info: {
        title: 'relay-backbone edge',
        version: '1',
        description:
          'Hands out WebRTC iceServers for the nearest relay with short-lived TURN credentials, learns from client probes, and chooses direct or relay per call. Every error is RFC 9457 problem JSON.',
      },
      tags: [
        { name: 'clients', description: 'called by apps and their pages (API key or client token)' },
        { name: 'calls', description: 'per-call direct or relay choice' },
        { name: 'operators', description: 'health, revocation and the backbone view' },
      ],
    });
    return doc;
  };
}
