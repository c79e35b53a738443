/**
 * Revocation of TURN credentials: by username, by client (tenant + client id) or by tenant. A REST
 * username `expiry:tenant:client` (src/credentials/turn-rest.ts) names its tenant and client, so
 * one revocation of a client covers every credential the edge ever issued to it, and one of a
 * tenant covers all of its clients. Pure: the edge records targets in the directory, relays read
 * them back into a RevocationSet and ask `isRevoked` for each username. Must not import relay/ or
 * workers/.
 */
import { parseTurnRestUsername } from './turn-rest.ts';

export type RevocationTarget =
  | { readonly kind: 'username'; readonly username: string }
  | { readonly kind: 'client'; readonly tenant: string; readonly client: string }
  | { readonly kind: 'tenant'; readonly tenant: string };

/** What the directory holds: members of its three revocation sets (see docs/REDIS.md). */
export interface Revocations {
  readonly usernames: readonly string[];
  /** `tenant:client` (a tenant never holds ':'; the client may). */
  readonly clients: readonly string[];
  readonly tenants: readonly string[];
}

export const NO_REVOCATIONS: Revocations = { usernames: [], clients: [], tenants: [] };

/** The target as the edge's POST /v1/credentials/revoke names it (and answers it). */
export function revocationFields(
  t: RevocationTarget,
): { username: string } | { tenant: string; client?: string } {
  if (t.kind === 'username') return { username: t.username };
  return t.kind === 'client' ? { tenant: t.tenant, client: t.client } : { tenant: t.tenant };
}

/** The member a client revocation is stored under. */
export function clientMember(tenant: string, client: string): string {
  return `${tenant}:${client}`;
}

export interface CredentialIdentity {
  readonly tenant: string | undefined;
  readonly client: string | undefined;
}

/** Tenant and client named by a username; both undefined for a static (non-REST) user. */
export function credentialIdentity(username: string): CredentialIdentity {
  const parsed = parseTurnRestUsername(username);
  return parsed.ok
    ? { tenant: parsed.tenant, client: parsed.userId }
    : { tenant: undefined, client: undefined };
}

export class RevocationSet {
  readonly #usernames: Set<string>;
  readonly #clients: Set<string>;
  readonly #tenants: Set<string>;

  constructor(r: Revocations = NO_REVOCATIONS) {
    this.#usernames = new Set(r.usernames);
    this.#clients = new Set(r.clients);
    this.#tenants = new Set(r.tenants);
  }

  get size(): number {
    return this.#usernames.size + this.#clients.size + this.#tenants.size;
  }

  isRevoked(username: string): boolean {
    if (this.#usernames.has(username)) return true;
    if (this.#clients.size === 0 && this.#tenants.size === 0) return false;
    const { tenant, client } = credentialIdentity(username);
    if (tenant === undefined) return false;
    if (this.#tenants.has(tenant)) return true;
    return client !== undefined && this.#clients.has(clientMember(tenant, client));
  }

  /** Whether `other` revokes something this set does not (so live allocations must be checked). */
  addsTo(other: RevocationSet): boolean {
    for (const u of other.#usernames) if (!this.#usernames.has(u)) return true;
    for (const c of other.#clients) if (!this.#clients.has(c)) return true;
    for (const t of other.#tenants) if (!this.#tenants.has(t)) return true;
    return false;
  }
}
