/**
 * The SDK as a package people install: `npm run build:sdk` writes sdk/dist, publint finds nothing
 * wrong with sdk/package.json (exports, types, files), arethetypeswrong resolves the types of
 * every entry for ESM consumers (node16 and bundlers), `npm pack` ships only dist, README and
 * package.json, and plain Node imports the built entries: one EdgeError class for all of them.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.ts';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;
const SDK = join(ROOT, 'sdk');

describe('the SDK package', () => {
  beforeAll(async () => {
    await run('npm', ['run', 'build:sdk'], { cwd: ROOT, timeout: 120_000 });
  }, 150_000);

  it('passes publint in strict mode', async () => {
    const { messages, pkg } = await publint({ pkgDir: SDK, strict: true, level: 'suggestion' });
    expect(messages.map((m) => formatMessage(m, pkg))).toEqual([]);
  });

  it('resolves its types for ESM consumers (arethetypeswrong)', async () => {
    const attw = join(ROOT, 'node_modules/.bin/attw');
    const res = await run(attw, ['--pack', SDK, '--profile', 'esm-only', '--format', 'json'], {
      cwd: ROOT,
      timeout: 120_000,
    }).catch((err: { stdout?: string; code?: number }) => err);
    const out = JSON.parse(res.stdout ?? '{}') as {
      analysis?: { entrypoints?: Record<string, unknown> };
      problems?: Record<string, { kind: string; resolutionKind?: string; entrypoint?: string }[]>;
    };
    expect(Object.keys(out.analysis?.entrypoints ?? {}).sort()).toEqual([
      '.',
      './calls',
      './node',
      './package.json',
    ]);
    // esm-only: node10 and require() from CommonJS are out of scope; nothing else may be wrong.
    const relevant = Object.values(out.problems ?? {})
      .flat()
      .filter((p) => p.resolutionKind !== 'node10' && p.resolutionKind !== 'node16-cjs');
    expect(relevant).toEqual([]);
    expect('code' in res ? res.code : 0).toBe(0);
  });

  it('packs only dist, README.md and package.json', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json'], { cwd: SDK, timeout: 60_000 });
    const [packed] = JSON.parse(stdout) as { files: { path: string }[] }[];
    const paths = packed!.files.map((f) => f.path);
    expect(paths).toContain('package.json');
    expect(paths).toContain('README.md');
    for (const entry of ['index', 'node', 'calls']) {
      expect(paths).toContain(`dist/${entry}.js`);
      expect(paths).toContain(`dist/${entry}.d.ts`);
    }
    expect(paths.filter((p) => p !== 'package.json' && p !== 'README.md' && !p.startsWith('dist/'))).toEqual(
      [],
    );
  });

  it('runs as built: every entry throws the same EdgeError class', async () => {
    const load = (name: string) => import(pathToFileURL(join(SDK, 'dist', `${name}.js`)).href);
    const index = (await load('index')) as typeof import('../../sdk/index.ts');
    const node = (await load('node')) as typeof import('../../sdk/node.ts');
    const calls = (await load('calls')) as typeof import('../../sdk/calls.ts');
    expect(typeof index.keepFresh).toBe('function');
    expect(typeof calls.callChoice).toBe('function');
    const closed = await freePort('tcp');
    const err = await node
      .getRtcConfiguration({ edgeUrl: `http://127.0.0.1:${closed}` })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(index.EdgeError);
    expect((err as InstanceType<typeof index.EdgeError>).code).toBe('ERR_EDGE_NETWORK');
    const aborted = await calls
      .callChoice({ edgeUrl: `http://127.0.0.1:${closed}`, room: 'r', signal: AbortSignal.abort() })
      .catch((e: unknown) => e);
    expect(aborted).toBeInstanceOf(index.EdgeError);
  });
});
