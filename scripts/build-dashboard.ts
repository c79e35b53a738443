/**
 * `npm run build:dashboard`: bundles the dashboard page (dashboard/main.ts with d3-geo,
 * topojson-client, world-atlas's 1:110m land and uPlot) into dist/dashboard/app.js and app.css
 * with esbuild, minified: nothing is fetched from a CDN at run time. The edges serve these files
 * (workers/dashboard-assets.ts); `npm run build` (scripts/build.ts) bundles them beside the
 * compiled code. Prints the sizes; exits 1 when the bundle fails.
 */
import { mkdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Bundles the page into `outdir` (app.js, app.css); returns a line with their sizes. */
export async function bundleDashboard(outdir = `${root}dist/dashboard`): Promise<string> {
  mkdirSync(outdir, { recursive: true });
  await build({
    entryPoints: { app: `${root}dashboard/main.ts` },
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    outdir,
    loader: { '.json': 'json' },
    legalComments: 'linked',
    logLevel: 'warning',
  });
  const kb = (f: string) => `${(statSync(`${outdir}/${f}`).size / 1024).toFixed(0)} KiB`;
  return `dashboard: ${outdir}/app.js ${kb('app.js')}, app.css ${kb('app.css')}`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    process.stdout.write(`${await bundleDashboard()}\n`);
  } catch {
    process.exit(1);
  }
}
