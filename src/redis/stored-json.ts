/**
 * Reading back JSON this project stored in Redis: a value that is not JSON (written by something
 * else, or cut short) reads as undefined instead of throwing, and the caller decides what a
 * missing value means.
 */
export function parseStoredJson(text: string | null | undefined): unknown {
  if (text === null || text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
