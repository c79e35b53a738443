/**
 * A TurnEngine on a fake clock for unit tests, and a client that signs its requests: setup()
 * builds the engine (static user alice/pw, REST secrets old-secret and new-secret, loopback
 * peers allowed), ask() answers 401 challenges as a client would, allocate() also binds the
 * relayed socket. Shared by the engine's test files.
 */
import { createHmac } from 'node:crypto';
import { stunCrypto } from '../../relay/platform-crypto.ts';
import { RevocationSet } from '../../src/credentials/revocation.ts';
import type { TransportAddress } from '../../src/net/address.ts';
import { parseCidr } from '../../src/net/cidr.ts';
import { createPeerPolicy } from '../../src/net/peer-policy.ts';
import { Attr, Method } from '../../src/stun/constants.ts';
import type { ClientContext } from '../../src/turn/allocation.ts';
import { createAuthenticator } from '../../src/turn/auth.ts';
import { TurnEngine } from '../../src/turn/engine.ts';
import type { TurnAction } from '../../src/turn/engine-actions.ts';
import type { TurnEngineOptions } from '../../src/turn/engine-options.ts';
import { createNonceManager } from '../../src/turn/nonce.ts';
import {
  type AttrList,
  type Credentials,
  decoded,
  errorCodeOf,
  request,
  textAttr,
  transportUdp,
} from './stun-builders.ts';

export const REALM = 'test.realm';
export const T0 = 1_800_000_000_000;
export const peer: TransportAddress = { family: 4, address: '127.0.0.9', port: 5000 };

function cidr(s: string) {
  const r = parseCidr(s);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

export function setup(
  over: Partial<TurnEngineOptions> = {},
  limits: Partial<TurnEngineOptions['limits']> = {},
) {
  let revoked = new RevocationSet();
  const engine = new TurnEngine({
    realm: REALM,
    crypto: stunCrypto,
    software: 'test',
    auth: createAuthenticator({
      users: [{ name: 'alice', password: 'pw' }],
      secrets: () => ['old-secret', 'new-secret'],
      crypto: stunCrypto,
      isRevoked: (username) => revoked.isRevoked(username),
    }),
    nonces: createNonceManager(new Uint8Array(32).fill(7), 3_600_000, stunCrypto),
    peerPolicy: createPeerPolicy({ allow: [cidr('127.0.0.0/8')] }),
    relayFamilies: [4],
    lifetimes: {
      defaultAllocation: 600,
      maxAllocation: 3600,
      permission: 300,
      channel: 600,
      maxAllocationAge: 86_400,
    },
    limits: {
      maxAllocations: 100,
      userQuota: 10,
      tenantQuota: 1000,
      allocPps: 0,
      allocBps: 0,
      maxPeersPerAllocation: 10,
      ...limits,
    },
    transactionSeed: new Uint8Array(12),
    ...over,
  });
  let port = 40000;
  const client = (transport: 'udp' | 'tcp' = 'udp', address = '127.0.0.1'): ClientContext => {
    port++;
    return {
      key: `${transport}|${address}:${port}`,
      transport,
      client: { family: 4, address, port },
      server: { family: 4, address: '127.0.0.1', port: 3478 },
      handle: undefined,
    };
  };
  /** Replaces the revocations the authenticator sees (the relay shell's job). */
  const revoke = (next: RevocationSet) => {
    revoked = next;
  };
  return { engine, client, revoke };
}

export const replies = (actions: TurnAction[]) =>
  actions
    .filter((a): a is Extract<TurnAction, { type: 'reply' }> => a.type === 'reply')
    .map((a) => decoded(a.bytes));

/** Sends a request; on 401 with a nonce, learns it and signs the retry, as a client would. */
export function ask(
  engine: TurnEngine,
  ctx: ClientContext,
  method: number,
  attrs: AttrList,
  cred: Credentials,
  now = T0,
) {
  let actions = engine.handleStun(ctx, request(method, attrs, cred).bytes, now);
  const first = replies(actions)[0];
  if (first && errorCodeOf(first) === 401 && cred.nonce === undefined) {
    cred.nonce = textAttr(first, Attr.Nonce);
    actions = engine.handleStun(ctx, request(method, attrs, cred).bytes, now);
  }
  return actions;
}

export function allocate(
  engine: TurnEngine,
  ctx: ClientContext,
  cred: Credentials,
  now = T0,
  attrs: AttrList = [],
) {
  const actions = ask(engine, ctx, Method.Allocate, [transportUdp(), ...attrs], cred, now);
  const bind = actions.find((a) => a.type === 'bind-relay');
  if (bind?.type !== 'bind-relay') return { actions, reply: replies(actions)[0] };
  const relayed = { family: 4 as const, address: '127.0.0.1', port: 50000 + bind.allocation.id };
  const done = engine.relayBound(bind.allocation, { relayed, advertised: relayed, shell: {} }, now);
  return { actions: done, reply: replies(done)[0]!, allocation: bind.allocation, relayed };
}

export function restCred(secret: string, expiry: number, user = 'alice'): Credentials {
  const username = `${Math.floor(expiry)}:tenant:${user}`;
  const password = createHmac('sha1', secret).update(username).digest('base64');
  return { username, password, realm: REALM };
}
