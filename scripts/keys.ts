#!/usr/bin/env node
/**
 * `npm run keys -- <command>`: tenants and API keys for the edge, kept in Redis (REDIS_URL, key
 * prefix EDGE_REDIS_PREFIX or rb:; --redis and --prefix override them).
 *
 *   tenant add ID [--name NAME] [--rate N] [--burst N] [--min-ttl S] [--max-ttl S]
 *                                                        create or update a tenant (limit per key;
 *                                                        the credential TTLs its clients may ask for)
 *   tenant list
 *   key add TENANT [--label TEXT] [--origins O,O] [--expires WHEN]
 *                                                        print a new key, once; only its hash is kept
 *   key list [--tenant ID]
 *   key disable KEY_ID | key enable KEY_ID               the edge refuses (accepts) it within 5 s
 *   key delete KEY_ID                                    forget it; its client tokens die with it
 *   key rotate KEY_ID [--grace WHEN]                     a new key like the old one; the old one
 *                                                        expires after the grace period (1 day)
 * WHEN is an ISO date (2027-01-31, 2027-01-31T12:00:00Z) or a span from now (90m, 12h, 30d).
 *
 * Bad usage is one line on stderr and exit code 2; output is JSON lines for scripts.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { redisClient } from '../src/redis/redis-client.ts';
import { parseRedisTarget, redactRedisUrl } from '../src/redis/redis-target.ts';
import { RedisTenantStore } from '../src/redis/redis-tenants.ts';
import {
  checkRateLimit,
  checkTenantId,
  DEFAULT_TENANT_LIMIT,
  hashSecret,
  newApiKey,
} from '../src/tenants/api-keys.ts';
import { isOrigin } from '../src/tenants/client-token.ts';
import { checkTtlBounds } from '../src/tenants/ttl.ts';

const HELP = `usage: npm run keys -- <command> [options]

Tenants and API keys for the edge, kept in Redis (REDIS_URL or --redis; key prefix
EDGE_REDIS_PREFIX or --prefix, default rb:). Output is JSON lines.

  tenant add ID [--name NAME] [--rate N] [--burst N] [--min-ttl S] [--max-ttl S]
      create or update a tenant: requests per second and burst per key, and the credential
      TTLs its clients may ask for
  tenant list
  key add TENANT [--label TEXT] [--origins O,O] [--expires WHEN]
      print a new key, once (only its SHA-256 is stored); --origins limits the web origins
      whose pages may present it or tokens it mints (https://app.example.com)
  key list [--tenant ID]
  key disable KEY_ID      the edge refuses it, and every client token it minted, within 5 s
  key enable KEY_ID       undo disable
  key delete KEY_ID       forget the key
  key rotate KEY_ID [--grace WHEN]
      print a new key with the old one's tenant, label and origins; the old key keeps working
      until the grace period ends (default 1d), so servers can switch without an outage

WHEN: an ISO date (2027-01-31, 2027-01-31T12:00:00Z) or a span from now (90m, 12h, 30d).
Bad usage: one line on stderr, exit code 2. Redis unreachable: exit code 1.
`;

function usage(message: string): never {
  const line = message.replace(/\s+/g, ' ').trim();
  process.stderr.write(`keys: ${line} (npm run keys -- --help)\n`);
  process.exit(2);
}

/** WHEN (see HELP) as ms since the epoch, or an error naming the option. */
function when(option: string, v: string, now: number): number {
  const span = /^(\d{1,6})([mhd])$/.exec(v);
  if (span)
    return now + Number(span[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[span[2] as 'm' | 'h' | 'd'];
  const t = /^\d{4}-\d{2}-\d{2}([T ][0-9:.]+Z?)?$/.test(v) ? Date.parse(v) : Number.NaN;
  if (!Number.isFinite(t))
    usage(`--${option}: expected a date like 2027-01-31 or a span like 30d, got "${v}"`);
  if (t <= now) usage(`--${option}: ${v} is already past`);
  return t;
}

function originsOption(v: string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const list = v
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  const bad = list.find((x) => !isOrigin(x));
  if (bad !== undefined) usage(`--origins: "${bad}" is not an origin like https://app.example.com`);
  return list;
}

const optionalNumber = (v: string | undefined) => (v === undefined ? undefined : Number(v));

let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      rate: { type: 'string' },
      burst: { type: 'string' },
      'min-ttl': { type: 'string' },
      'max-ttl': { type: 'string' },
      label: { type: 'string' },
      origins: { type: 'string' },
      expires: { type: 'string' },
      grace: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      tenant: { type: 'string' },
      redis: { type: 'string' },
      prefix: { type: 'string' },
    },
  });
}
try {
  parsed = parse();
} catch (err) {
  usage((err as Error).message);
}
const { values: o, positionals } = parsed;
if (o.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const [noun, verb, arg] = positionals;
const command = `${noun ?? ''} ${verb ?? ''}`.trim();
const withArg = ['tenant add', 'key add', 'key disable', 'key enable', 'key delete', 'key rotate'];
const known = ['tenant list', 'key list', ...withArg];
if (!known.includes(command)) usage(command ? `unknown command "${command}"` : 'no command');
if (withArg.includes(command) && !arg) usage(`${command}: missing its argument`);
const started = Date.now();
const keyOrigins = originsOption(o.origins);
const keyExpires = o.expires === undefined ? undefined : when('expires', o.expires, started);
const grace = when('grace', o.grace ?? '1d', started);

// Check what can be checked before touching Redis.
if (command === 'tenant add') {
  const id = checkTenantId(arg!);
  if (!id.ok) usage(id.error);
  const given = checkRateLimit(Number(o.rate ?? 1), Number(o.burst ?? 1));
  if (!given.ok) usage(given.error);
  const ttl = checkTtlBounds(optionalNumber(o['min-ttl']), optionalNumber(o['max-ttl']));
  if (!ttl.ok) usage(`--${ttl.error}`);
}

const url = o.redis ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const target = parseRedisTarget(url);
if (!target.ok) usage(`--redis: ${target.error}`);
const client = redisClient(target.value, { commandTimeoutMs: 5000 });
let lastError = '';
client.on('error', (err: Error) => {
  lastError = err.message;
});
const store = new RedisTenantStore(client, o.prefix ?? process.env.EDGE_REDIS_PREFIX ?? 'rb:');
const print = (v: unknown) => process.stdout.write(`${JSON.stringify(v)}\n`);

async function connected(ms: number): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`cannot reach Redis at ${redactRedisUrl(url)}: ${lastError || 'timed out'}`)),
      ms,
    );
    client.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function run(): Promise<number> {
  await connected(3000);
  switch (command) {
    case 'tenant add': {
      const id = arg!; // checked before connecting
      const before = await store.getTenant(id);
      const limit = checkRateLimit(
        o.rate !== undefined ? Number(o.rate) : (before?.ratePerSecond ?? DEFAULT_TENANT_LIMIT.ratePerSecond),
        o.burst !== undefined ? Number(o.burst) : (before?.burst ?? DEFAULT_TENANT_LIMIT.burst),
      );
      if (!limit.ok) usage(limit.error);
      // Bounds not given keep what the tenant had; checked together, since min may not pass max.
      const ttl = checkTtlBounds(
        optionalNumber(o['min-ttl']) ?? before?.minTtlSeconds,
        optionalNumber(o['max-ttl']) ?? before?.maxTtlSeconds,
      );
      if (!ttl.ok) usage(`--${ttl.error}`);
      const tenant = {
        id,
        name: o.name ?? before?.name ?? id,
        ...limit.value,
        ...ttl.value,
        createdAt: before?.createdAt ?? Date.now(),
      };
      await store.putTenant(tenant);
      print({ tenant, updated: before !== undefined });
      return 0;
    }
    case 'tenant list':
      for (const t of await store.listTenants()) print(t);
      return 0;
    case 'key add': {
      const tenant = await store.getTenant(arg!);
      if (!tenant) usage(`no tenant "${arg}"; create it first with: npm run keys -- tenant add ${arg}`);
      await addKey(tenant.id, o.label ?? '', keyOrigins, keyExpires);
      return 0;
    }
    case 'key rotate': {
      const old = await store.getKey(arg!);
      if (!old) usage(`no API key "${arg}"`);
      const expiresAt = Math.min(old.expiresAt ?? Number.POSITIVE_INFINITY, grace);
      await addKey(old.tenant, old.label, keyOrigins ?? old.origins, keyExpires ?? old.expiresAt, old.id);
      await store.putKey({ ...old, expiresAt });
      print({ rotated: old.id, oldKeyExpiresAt: new Date(expiresAt).toISOString() });
      return 0;
    }
    case 'key enable':
    case 'key disable': {
      const key = await store.getKey(arg!);
      if (!key) usage(`no API key "${arg}"`);
      const disabled = command === 'key disable';
      await store.putKey({ ...key, disabled });
      print({ [disabled ? 'disabled' : 'enabled']: key.id, tenant: key.tenant });
      return 0;
    }
    case 'key delete': {
      const key = await store.getKey(arg!);
      if (!key) usage(`no API key "${arg}"`);
      await store.deleteKey(key.id);
      print({ deleted: key.id, tenant: key.tenant });
      return 0;
    }
    case 'key list':
      for (const k of await store.listKeys())
        if (!o.tenant || k.tenant === o.tenant) print({ ...k, hash: undefined });
      return 0;
  }
  return 2;
}

/** Stores a new key of `tenant` and prints it, once. */
async function addKey(
  tenant: string,
  label: string,
  origins: readonly string[] | undefined,
  expiresAt: number | undefined,
  replaces?: string,
): Promise<void> {
  const made = newApiKey(new Uint8Array(randomBytes(40)));
  await store.putKey({
    id: made.id,
    tenant,
    hash: await hashSecret(made.secret),
    label,
    createdAt: Date.now(),
    disabled: false,
    ...(origins && origins.length > 0 ? { origins } : {}),
    ...(expiresAt !== undefined ? { expiresAt } : {}),
  });
  print({
    key: made.key,
    id: made.id,
    tenant,
    ...(replaces ? { replaces } : {}),
    note: 'shown once: only its hash is stored',
  });
}

try {
  const code = await run();
  await client.quit();
  process.exit(code);
} catch (err) {
  process.stderr.write(`keys: ${(err as Error).message}\n`);
  client.disconnect();
  process.exit(1);
}
