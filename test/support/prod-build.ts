/**
 * The production tree an operator deploys, made in a fresh temporary directory: `npm run build`
 * into its `dist/`, package.json and package-lock.json beside it, and `npm ci --omit=dev` there
 * (from the npm cache, no network; where the cache lacks a package, from the npm registry). Run
 * its programs with `{ built: tree.dir }` (test/support/process.ts): plain `node`, no loader.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;

export interface ProdTree {
  readonly dir: string;
  /** Where `npm ci` found the packages: the cache alone, or the registry too. */
  readonly installedFrom: 'cache' | 'registry';
  remove(): void;
}

export async function buildProdTree(): Promise<ProdTree> {
  const dir = mkdtempSync(join(tmpdir(), 'rb-prod-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    await run('npm', ['run', 'build', '--', '--outDir', join(dir, 'dist')], { cwd: ROOT, timeout: 180_000 });
    for (const f of ['package.json', 'package-lock.json']) copyFileSync(join(ROOT, f), join(dir, f));
    const ci = ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'];
    try {
      await run('npm', [...ci, '--offline'], { cwd: dir, timeout: 120_000 });
      return { dir, installedFrom: 'cache', remove };
    } catch {
      await run('npm', [...ci, '--prefer-offline'], { cwd: dir, timeout: 300_000 });
      return { dir, installedFrom: 'registry', remove };
    }
  } catch (err) {
    remove();
    throw err;
  }
}
