#!/usr/bin/env node
/**
 * `npm run keys -- <command>`: tenants and API keys for the edge, kept in Redis (REDIS_URL, key
 * prefix EDGE_REDIS_PREFIX or rb:; --redis and --prefix override them).
 *
 *   tenant add ID [--name NAME] [--rate N] [--burst N]   create or update a tenant (limit per key)
 *   tenant list
 *   key add TENANT [--label TEXT]                        print a new key, once; only its hash is kept
 *   key list [--tenant ID]
 *   key disable KEY_ID                                   the edge refuses it within 5 s
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

function usage(message: string): never {
  const line = message.replace(/\s+/g, ' ').trim();
  process.stderr.write(`keys: ${line} (commands: tenant add|list, key add|list|disable)\n`);
  process.exit(2);
}

let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      rate: { type: 'string' },
      burst: { type: 'string' },
      label: { type: 'string' },
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
const [noun, verb, arg] = positionals;
const command = `${noun ?? ''} ${verb ?? ''}`.trim();
const known = ['tenant add', 'tenant list', 'key add', 'key list', 'key disable'];
if (!known.includes(command)) usage(command ? `unknown command "${command}"` : 'no command');
if (['tenant add', 'key add', 'key disable'].includes(command) && !arg)
  usage(`${command}: missing its argument`);

// Check what can be checked before touching Redis.
if (command === 'tenant add') {
  const id = checkTenantId(arg!);
  if (!id.ok) usage(id.error);
  const given = checkRateLimit(Number(o.rate ?? 1), Number(o.burst ?? 1));
  if (!given.ok) usage(given.error);
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
      const tenant = {
        id,
        name: o.name ?? before?.name ?? id,
        ...limit.value,
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
      const made = newApiKey(new Uint8Array(randomBytes(40)));
      const record = {
        id: made.id,
        tenant: tenant.id,
        hash: await hashSecret(made.secret),
        label: o.label ?? '',
        createdAt: Date.now(),
        disabled: false,
      };
      await store.putKey(record);
      print({ key: made.key, id: made.id, tenant: tenant.id, note: 'shown once: only its hash is stored' });
      return 0;
    }
    case 'key list':
      for (const k of await store.listKeys())
        if (!o.tenant || k.tenant === o.tenant) print({ ...k, hash: undefined });
      return 0;
    case 'key disable': {
      const key = await store.getKey(arg!);
      if (!key) usage(`no API key "${arg}"`);
      await store.putKey({ ...key, disabled: true });
      print({ disabled: key.id, tenant: key.tenant });
      return 0;
    }
  }
  return 2;
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
