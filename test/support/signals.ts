/** Small signal helpers the test suites share. */

/** The parts, one after the other, as one array. */
export function concatSamples(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Index of `needle` as a contiguous run inside `hay` (searching from `from`), or -1. */
export function indexOfRun(hay: Int16Array, needle: Int16Array, from = 0): number {
  // Anchor on the first non-zero sample: a needle that starts with silence matches fewer places.
  const first = needle.findIndex((s) => s !== 0);
  if (first < 0) return -1;
  outer: for (let i = from + first; i + needle.length - first <= hay.length; i++) {
    if (hay[i] !== needle[first]) continue;
    const start = i - first;
    for (let j = 0; j < needle.length; j++) if (hay[start + j] !== needle[j]) continue outer;
    return start;
  }
  return -1;
}

/** Where `needle` lies in a recorded timeline, and the silence a recorder cut into it. */
export interface FoundRun {
  start: number;
  end: number;
  /** Zero samples between the needle's own: only where the source really ran dry. */
  inserted: number;
}

/**
 * `needle` in `hay` in order, from its first 48 samples on, allowing zero samples between its own
 * (a recorder keeps wall time when the audio source ran dry); start -1 when it is not all there.
 */
export function findWithGaps(hay: Int16Array, needle: Int16Array, from = 0): FoundRun {
  const start = indexOfRun(hay, needle.subarray(0, 48), from);
  let [i, j, inserted] = [start, 0, 0];
  while (start >= 0 && j < needle.length && i < hay.length) {
    if (hay[i] === needle[j]) j += 1;
    else if (hay[i] === 0) inserted += 1;
    else break;
    i += 1;
  }
  return j === needle.length ? { start, end: i, inserted } : { start: -1, end: -1, inserted };
}
