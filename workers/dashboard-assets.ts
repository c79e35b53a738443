/**
 * The dashboard's bundled page for the Node edge: dist/dashboard/app.js and app.css, made by
 * `npm run build:dashboard` (and by `npm run build`). Looked up in EDGE_DASHBOARD_DIR when set,
 * else beside the sources or the built code. Undefined when not built: the edge then answers
 * /dashboard with a 503 that says how to build it. Node only (Workers would bundle them).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { DashboardAssets } from './dashboard.ts';

export function loadDashboardAssets(dir = process.env.EDGE_DASHBOARD_DIR): DashboardAssets | undefined {
  const candidates = dir
    ? [dir]
    : ['../dist/dashboard', '../dashboard', '../../dist/dashboard'].map((p) =>
        fileURLToPath(new URL(p, import.meta.url)),
      );
  for (const d of candidates) {
    if (existsSync(`${d}/app.js`) && existsSync(`${d}/app.css`)) {
      return { js: readFileSync(`${d}/app.js`, 'utf8'), css: readFileSync(`${d}/app.css`, 'utf8') };
    }
  }
  return undefined;
}
