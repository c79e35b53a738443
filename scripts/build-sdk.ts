/**
 * `npm run build:sdk`: the installable SDK package in sdk/dist. esbuild bundles the entry points
 * named by sdk/package.json's `exports` (index, node, calls) to ES modules, with code they share
 * split into chunks so that `EdgeError` is one class whichever entry a program imports; the STUN
 * codec that sdk/node.ts uses from src/stun goes inside. tsc (sdk/tsconfig.json) writes the
 * declarations; only sdk/'s are kept, with relative specifiers rewritten from `.ts` to `.js`, and
 * the build fails if one of them still reaches outside sdk/. `npm run build` calls this too.
 * Exits 1 when a step fails.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const sdkDir = join(root, 'sdk');

/** The package's entry points, from its `exports` map: `./dist/NAME.js` for each import condition. */
function entryNames(): string[] {
  const pkg = JSON.parse(readFileSync(join(sdkDir, 'package.json'), 'utf8')) as {
    exports: Record<string, string | { import?: string }>;
  };
  return Object.values(pkg.exports)
    .map((e) => (typeof e === 'string' ? undefined : e.import))
    .filter((p): p is string => p !== undefined)
    .map((p) => /^\.\/dist\/(.+)\.js$/.exec(p)?.[1])
    .filter((n): n is string => n !== undefined);
}

/** Builds sdk/dist; returns a one-line summary. Throws when a step fails. */
export async function buildSdk(outDir = join(sdkDir, 'dist')): Promise<string> {
  rmSync(outDir, { recursive: true, force: true });
  const names = entryNames();
  await build({
    entryPoints: Object.fromEntries(names.map((n) => [n, join(sdkDir, `${n}.ts`)])),
    outdir: outDir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    // node.ts is the only entry that uses Node built-ins; they stay imports.
    external: ['node:*'],
    chunkNames: 'chunks/[name]-[hash]',
    sourcemap: true,
    logLevel: 'warning',
  });
  const decl = mkdtempSync(join(tmpdir(), 'sdk-decl-'));
  try {
    const tsc = spawnSync(
      process.execPath,
      [
        join(root, 'node_modules/typescript/bin/tsc'),
        '-p',
        join(sdkDir, 'tsconfig.json'),
        '--declarationDir',
        decl,
      ],
      { stdio: 'inherit' },
    );
    if (tsc.status !== 0) throw new Error('tsc failed on the SDK declarations');
    const files = readdirSync(join(decl, 'sdk')).filter((f) => f.endsWith('.d.ts'));
    for (const f of files) {
      const text = readFileSync(join(decl, 'sdk', f), 'utf8').replace(
        /(from\s+|import\()(['"])(\.\.?\/[^'"]+)\.ts\2/g,
        '$1$2$3.js$2',
      );
      if (/(from\s+|import\()['"]\.\.\//.test(text))
        throw new Error(`sdk/dist/${f} imports from outside sdk/: export no type from there`);
      writeFileSync(join(outDir, f), text);
    }
    return `sdk: ${names.map((n) => `${n}.js`).join(', ')} and ${files.length} declarations in ${outDir}`;
  } finally {
    rmSync(decl, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    process.stdout.write(`${await buildSdk()}\n`);
  } catch (err) {
    process.stderr.write(`build:sdk: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
