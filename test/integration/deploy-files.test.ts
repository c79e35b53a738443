/**
 * The deployment files, checked as far as this machine allows (no container daemon, no running
 * systemd): compose.yaml parsed as YAML (PyYAML, Debian's python3-yaml) and every relay's
 * environment run through the relay's own configuration parser; the Dockerfile's stages read for
 * what the runtime image holds and who it runs as, and its build stage replayed in a directory
 * holding only what that stage copies; the image's entry point run on what it built; the systemd
 * units through `systemd-analyze verify`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseRelayConfig } from '../../relay/config.ts';
import { OPTIONS } from '../../relay/config-options.ts';
import { OPTIONS as EDGE_OPTIONS } from '../../workers/config-options.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');

function need(cmd: string, args: string[], install: string): void {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`checking the deployment files needs ${install}`);
}

interface Service {
  image?: string;
  build?: string;
  command?: string[];
  network_mode?: string;
  ports?: string[];
  environment?: Record<string, string | number>;
}

function loadCompose(): { services: Record<string, Service> } {
  need('python3', ['-c', 'import yaml'], 'PyYAML: apt-get install python3-yaml');
  const json = execFileSync('python3', [
    '-c',
    'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))',
    join(ROOT, 'compose.yaml'),
  ]).toString();
  return JSON.parse(json) as { services: Record<string, Service> };
}

/** Compose's interpolation, for `${NAME:?message}` and `${NAME:-default}`, from `vars`. */
function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(
    /\$\{([A-Z_]+)(?::([?-])([^}]*))?\}/g,
    (_, name: string, op?: string, arg?: string) => {
      const v = vars[name];
      if (v !== undefined && v !== '') return v;
      if (op === '-') return arg ?? '';
      throw new Error(`compose.yaml needs ${name}: ${arg ?? ''}`);
    },
  );
}

const VARS = {
  PUBLIC_IP: '203.0.113.10',
  TURN_SECRET: 's3cret',
  MESH_KEY: 'mesh-key-0123456789',
  ADMIN_TOKEN: 't',
};
const RELAY_ENV_NAMES = new Set(Object.values(OPTIONS).map((o) => o.env));

/** The program names the image's entry point accepts. */
function entryCommands(): string[] {
  return [...read('deploy/docker/entrypoint.sh').matchAll(/^\s+([a-z]+)\) exec /gm)].map((m) => m[1]!);
}

describe('compose.yaml', () => {
  const compose = loadCompose();
  const relays = Object.entries(compose.services).filter(([name]) => name.startsWith('relay-'));
  const envOf = (s: Service) =>
    Object.fromEntries(
      Object.entries(s.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), VARS)]),
    );

  it('runs Redis, the edge and three relays, the last two from this image with a command it knows', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['edge', 'redis', 'relay-1', 'relay-2', 'relay-3']);
    for (const [name, s] of [['edge', compose.services.edge!] as const, ...relays]) {
      expect(s.build, name).toBe('.');
      expect(entryCommands(), name).toContain(s.command?.[0]);
    }
    expect(compose.services.edge!.command).toEqual(['edge']);
  });

  it("gives each relay settings the relay's own parser accepts, under names it reads", () => {
    for (const [name, s] of relays) {
      const env = envOf(s);
      for (const key of Object.keys(env)) expect(RELAY_ENV_NAMES, `${name}: ${key}`).toContain(key);
      const parsed = parseRelayConfig([], env, { fileExists: () => true });
      if (!parsed.ok) throw new Error(`${name}: ${parsed.error}`);
      expect('config' in parsed).toBe(true);
      expect(s.network_mode, name).toBe('host');
    }
  });

  it('keeps the relays on one host apart: ids, ports and relayed ranges never overlap', () => {
    const envs = relays.map(([, s]) => envOf(s));
    for (const key of [
      'RELAY_ID',
      'RELAY_TURN_PORT',
      'RELAY_TLS_PORT',
      'RELAY_HTTP_PORT',
      'RELAY_PING_PORT',
      'RELAY_BACKBONE_PORT',
    ])
      expect(new Set(envs.map((e) => e[key])).size, key).toBe(relays.length);
    const ranges = envs
      .map((e) => [Number(e.RELAY_MIN_PORT), Number(e.RELAY_MAX_PORT)] as const)
      .sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBeGreaterThan(ranges[i - 1]![1]);
  });

  it('names for the edge only variables the edge reads, and points it at the Redis service', () => {
    // The Node edge reads exactly the variables of its option table (workers/config-options.ts).
    const read_ = new Set(
      Object.values(EDGE_OPTIONS)
        .filter((o) => (o.runtimes as readonly string[]).includes('node'))
        .map((o) => o.env),
    );
    const env = envOf(compose.services.edge!);
    for (const key of Object.keys(env)) expect(read_, key).toContain(key);
    expect(env.REDIS_URL).toBe('redis://redis:6379');
    expect(() => interpolate(String(compose.services.edge!.environment!.EDGE_SECRETS), {})).toThrow(
      /TURN_SECRET/,
    );
  });
});

describe('Dockerfile', () => {
  const text = read('Dockerfile');
  const stages = text
    .split(/^FROM /m)
    .slice(1)
    .map((s) => ({ name: /\bAS (\S+)/.exec(s.split('\n')[0]!)?.[1], body: s }));
  const runtime = stages.at(-1)!;

  it('builds in one stage and runs from another, as a user other than root', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const user = /^USER (\S+)/m.exec(runtime.body)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    expect(stages.some((s) => /RUN npm run build/.test(s.body))).toBe(true);
  });

  it('puts only built JavaScript and production dependencies in the runtime image', () => {
    const copies = [...runtime.body.matchAll(/^COPY (.+)$/gm)].map((m) => m[1]!);
    for (const c of copies.filter((c) => !c.includes('--from=')))
      expect(c, c).toMatch(/^(?:--chmod=\S+ )?(package\.json|deploy\/docker\/entrypoint\.sh) /);
    const from = (what: string) => copies.find((c) => c.includes(what));
    const deps = stages.find((s) => s.name === /--from=(\S+)/.exec(from('node_modules') ?? '')?.[1]);
    expect(deps?.body).toMatch(/npm ci --omit=dev/);
    expect(from('/app/dist')).toMatch(/--from=build/);
    expect(runtime.body).not.toMatch(/tsx|--import/);
  });

  it('copies into the build stage everything the build compiles, from paths that exist', () => {
    const build = stages.find((s) => s.name === 'build')!;
    const sources = [...build.body.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(' '));
    for (const s of sources) expect(existsSync(join(ROOT, s)), s).toBe(true);
    const tsconfig = JSON.parse(read('tsconfig.build.json').replace(/^\s*\/\/.*$/gm, '')) as {
      include: string[];
    };
    for (const inc of tsconfig.include) expect(sources, inc).toContain(inc);
  });

  it('has an entry point that starts the relay, the edge or the key CLI, and refuses anything else', () => {
    expect(entryCommands().sort()).toEqual(['edge', 'keys', 'relay']);
    const script = read('deploy/docker/entrypoint.sh');
    const bins = JSON.parse(read('package.json')).bin as Record<string, string>;
    for (const target of Object.values(bins)) expect(script).toContain(`/app/${target}`);
    const r = spawnSync('sh', [join(ROOT, 'deploy/docker/entrypoint.sh'), 'shell']);
    expect(r.status).toBe(2);
    expect(r.stderr.toString().trim().split('\n')).toHaveLength(1);
  });
});

describe('the Dockerfile build stage, replayed without a container', () => {
  it('builds from only the files it copies, and the entry point starts what it built', () => {
    const stage = read('Dockerfile')
      .split(/^FROM /m)
      .find((b) => / AS build\b/.test(b.split('\n')[0]!))!;
    const dir = mkdtempSync(join(tmpdir(), 'rb-image-'));
    // What .dockerignore keeps out of the build context (its paths; the patterns without a slash
    // name folders the stage never copies from here).
    const ignored = new Set(
      read('.dockerignore')
        .split('\n')
        .filter((l) => l.includes('/'))
        .map((l) => join(ROOT, l.trim())),
    );
    try {
      for (const line of stage.split('\n')) {
        const copy = /^COPY (?!--from)(.+)$/.exec(line);
        if (copy) {
          const parts = copy[1]!.split(/\s+/);
          const dest = parts.pop()!;
          for (const src of parts) {
            const into = parts.length > 1 || dest.endsWith('/');
            cpSync(join(ROOT, src), join(dir, dest, into ? basename(src) : ''), {
              recursive: true,
              filter: (path) => !ignored.has(path),
            });
          }
        }
        const run = /^RUN (.+)$/.exec(line)?.[1];
        // `npm ci` is the one step that needs the registry: the installed tree stands in for it.
        if (run?.startsWith('npm ci')) symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
        else if (run) execFileSync('sh', ['-c', run], { cwd: dir, stdio: 'pipe', timeout: 180_000 });
      }
      // The native UDP addon (--udp-io native) is built and lands in dist/ beside the relay.
      expect(existsSync(join(dir, 'dist/relay/native/build/native-udp.node'))).toBe(true);
      // The runtime stage puts the build's dist/ in /app: point the entry point there.
      const entry = join(dir, 'entrypoint.sh');
      writeFileSync(entry, read('deploy/docker/entrypoint.sh').replaceAll('/app/', `${dir}/`));
      const run = (...args: string[]) =>
        spawnSync('sh', [entry, ...args], { env: { PATH: process.env.PATH } });
      const help = run('relay', '--help');
      expect(help.status, help.stderr.toString()).toBe(0);
      expect(help.stdout.toString()).toMatch(/^Usage: relay/);
      const edge = run('edge');
      expect(edge.status).toBe(2);
      expect(edge.stderr.toString()).toMatch(/^edge: REDIS_URL/);
      const keys = run('keys');
      expect(keys.status).toBe(2);
      expect(keys.stderr.toString()).toMatch(/^keys: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});

describe('systemd units', () => {
  const units = ['relay-backbone-relay.service', 'relay-backbone-edge.service'];

  it('pass systemd-analyze verify without a warning', () => {
    need('systemd-analyze', ['--version'], 'systemd-analyze: apt-get install systemd');
    for (const unit of units) {
      const r = spawnSync('systemd-analyze', ['verify', join(ROOT, 'deploy/systemd', unit)]);
      expect(r.stderr.toString(), unit).toBe('');
      expect(r.status, unit).toBe(0);
    }
  });

  it('start the built entry points, and give the relay time to drain', () => {
    const bins = Object.values(JSON.parse(read('package.json')).bin as Record<string, string>);
    for (const unit of units) {
      const exec = /^ExecStart=(.+)$/m.exec(read(`deploy/systemd/${unit}`))![1]!;
      expect(
        bins.some((b) => exec.endsWith(`/opt/relay-backbone/${b}`)),
        exec,
      ).toBe(true);
    }
    const relay = read('deploy/systemd/relay-backbone-relay.service');
    const stop = Number(/^TimeoutStopSec=(\d+)$/m.exec(relay)?.[1]);
    expect(stop).toBeGreaterThan(Number(OPTIONS.drainTimeout.default));
  });
});
