/**
 * `npm run build [-- --outDir DIR]`: the production tree. tsc compiles the Node entry points and
 * what they import to DIR (dist/ by default; tsconfig.build.json says why tsc), then esbuild
 * bundles the dashboard page into DIR/dashboard, where the built edge looks for it, and the SDK
 * package is built in its own folder, sdk/dist (scripts/build-sdk.ts). The native UDP addon, when
 * built (npm run build:native), is copied beside the built relay, where --udp-io native looks for
 * it. Exits 1 when a step fails, 2 on bad usage.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bundleDashboard } from './build-dashboard.ts';
import { buildSdk } from './build-sdk.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
let outDir: string;
try {
  const { values } = parseArgs({ options: { outDir: { type: 'string', default: `${root}dist` } } });
  outDir = values.outDir!;
} catch (err) {
  process.stderr.write(`build: ${(err as Error).message}\n`);
  process.exit(2);
}
const tsc = spawnSync(
  process.execPath,
  [`${root}node_modules/typescript/bin/tsc`, '-p', `${root}tsconfig.build.json`, '--outDir', outDir],
  { stdio: 'inherit' },
);
if (tsc.status !== 0) process.exit(1);
const addon = `${root}relay/native/build/native-udp.node`;
if (existsSync(addon)) {
  mkdirSync(`${outDir}/relay/native/build`, { recursive: true });
  copyFileSync(addon, `${outDir}/relay/native/build/native-udp.node`);
}
try {
  process.stdout.write(`${await bundleDashboard(`${outDir}/dashboard`)}\n`);
  process.stdout.write(`${await buildSdk()}\n`);
} catch (err) {
  process.stderr.write(`build: ${(err as Error).message}\n`);
  process.exit(1);
}
