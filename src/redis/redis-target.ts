/**
 * Where the coordinator lives, from one URL: a single Redis (`redis://`, `rediss://` with TLS), a
 * set of Sentinels watching a named master (`redis-sentinel://[:password@]host:port[,host:port...]/master`)
 * or a Redis Cluster (`redis-cluster://[:password@]host:port[,host:port...]`). Pure parsing; the
 * relay turns the result into ioredis options.
 */
export type RedisTarget =
  | { readonly kind: 'single'; readonly url: string }
  | {
      readonly kind: 'sentinel';
      readonly sentinels: readonly { host: string; port: number }[];
      readonly master: string;
      readonly password: string | undefined;
    }
  | {
      readonly kind: 'cluster';
      readonly nodes: readonly { host: string; port: number }[];
      readonly password: string | undefined;
    };

export type RedisTargetResult = { ok: true; value: RedisTarget } | { ok: false; error: string };

const MULTI = /^(redis-sentinel|redis-cluster):\/\/(?:([^@/]*)@)?([^/]+)(?:\/([^/?#]*))?$/;

function hostList(text: string): { host: string; port: number }[] | undefined {
  const out: { host: string; port: number }[] = [];
  for (const item of text.split(',')) {
    const m = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(item.trim());
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) return undefined;
    out.push({ host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) });
  }
  return out;
}

export function parseRedisTarget(raw: string): RedisTargetResult {
  const multi = MULTI.exec(raw);
  if (multi) {
    const [, scheme, auth, hosts, path] = multi;
    const list = hostList(hosts!);
    if (!list) return { ok: false, error: `expected host:port[,host:port...] after ${scheme}://` };
    const password = auth ? decodeURIComponent(auth.slice(auth.indexOf(':') + 1)) || undefined : undefined;
    if (scheme === 'redis-cluster') return { ok: true, value: { kind: 'cluster', nodes: list, password } };
    if (!path)
      return { ok: false, error: 'redis-sentinel:// needs the master name as its path: .../mymaster' };
    return {
      ok: true,
      value: { kind: 'sentinel', sentinels: list, master: decodeURIComponent(path), password },
    };
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, error: 'expected a redis://, rediss://, redis-sentinel:// or redis-cluster:// URL' };
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    return { ok: false, error: 'expected a redis://, rediss://, redis-sentinel:// or redis-cluster:// URL' };
  }
  return { ok: true, value: { kind: 'single', url: raw } };
}

/** The target as it may be logged: passwords replaced. */
export function redactRedisUrl(raw: string): string {
  return raw.replace(
    /^([a-z-]+:\/\/)([^@/]*:)([^@/]*)@/,
    (_m, scheme: string, user: string) => `${scheme}${user}<redacted>@`,
  );
}
