// Wildcard patterns of the policy language: `*` matches any run of characters (none too, and
// across ':' and '/'), `?` exactly one character. There are no escapes.
//
// Patterns are compiled once into a PatternSet (exact names in a Set, `prefix*` patterns as
// prefixes, the rest as globs) and matched without a RegExp: a RegExp such as
// /^.*a.*a.*a.*a.*b$/ backtracks in O(n^k) for k stars, and one policy author could then stall
// every evaluation (measured on Node 24: four stars against a 235-character krn take 1.4 s,
// six stars over a minute). A glob is split at its stars into segments once; matching checks
// the first and last segments in place and finds each middle one at its leftmost position
// (String.indexOf when it has no `?`), which is optimal for `*`-separated segments: at most
// O(pattern × value), no allocation.

const QUESTION = 63; // '?'

export interface PatternSet {
  /** True when one of the patterns is "*" (matches every value). */
  readonly any: boolean;
  /** Patterns without wildcards. */
  readonly exact: ReadonlySet<string>;
  /** Patterns of the form `<literal>*` (the literal without the star). */
  readonly prefixes: readonly string[];
  /** Every other pattern with a wildcard. */
  readonly globs: readonly CompiledGlob[];
  /** The patterns as compiled (actions already lower-cased), in document order. */
  readonly patterns: readonly string[];
}

export function hasWildcard(pattern: string): boolean {
  return pattern.includes("*") || pattern.includes("?");
}

/** Compiles patterns (already normalised by the caller, e.g. lower-cased actions). */
export function compilePatternSet(patterns: readonly string[]): PatternSet {
  let any = false;
  const exact = new Set<string>();
  const prefixes: string[] = [];
  const globs: CompiledGlob[] = [];
  for (const raw of patterns) {
    const pattern = collapseStars(raw);
    if (pattern === "*") {
      any = true;
    } else if (!hasWildcard(pattern)) {
      exact.add(pattern);
    } else {
      const body = pattern.slice(0, -1);
      if (pattern.endsWith("*") && !hasWildcard(body)) prefixes.push(body);
      else globs.push(compileGlob(pattern));
    }
  }
  return { any, exact, prefixes, globs, patterns: [...patterns] };
}

export function matchesPatternSet(set: PatternSet, value: string): boolean {
  if (set.any || set.exact.has(value)) return true;
  const prefixes = set.prefixes;
  for (let i = 0; i < prefixes.length; i++) {
    if (value.startsWith(prefixes[i] as string)) return true;
  }
  const globs = set.globs;
  for (let i = 0; i < globs.length; i++) {
    if (matchGlob(globs[i] as CompiledGlob, value)) return true;
  }
  return false;
}

export interface CompiledGlob {
  readonly source: string;
  /** Before the first star (the whole pattern when there is none). */
  readonly head: string;
  /** After the last star; "" when the pattern has no star. */
  readonly tail: string;
  /** Between stars, in order (never empty: runs of stars are collapsed). */
  readonly middles: readonly string[];
  readonly hasStar: boolean;
  /** Shortest value that can match. */
  readonly minLength: number;
}

export function compileGlob(rawPattern: string): CompiledGlob {
  const pattern = collapseStars(rawPattern);
  const parts = pattern.split("*");
  if (parts.length === 1) return { source: pattern, head: pattern, tail: "", middles: [], hasStar: false, minLength: pattern.length };
  const head = parts[0] as string;
  const tail = parts[parts.length - 1] as string;
  const middles = parts.slice(1, -1);
  const minLength = head.length + tail.length + middles.reduce((sum, m) => sum + m.length, 0);
  return { source: pattern, head, tail, middles, hasStar: true, minLength };
}

/** `segment` (with `?` matching any one character) occurs in `value` at `at`. */
function segmentAt(value: string, at: number, segment: string): boolean {
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i);
    if (c !== QUESTION && c !== value.charCodeAt(at + i)) return false;
  }
  return true;
}

/** Leftmost index >= from where `segment` occurs and ends by `end`, or -1. */
function findSegment(value: string, segment: string, from: number, end: number): number {
  const last = end - segment.length;
  if (!segment.includes("?")) {
    const index = value.indexOf(segment, from);
    return index !== -1 && index <= last ? index : -1;
  }
  for (let at = from; at <= last; at++) if (segmentAt(value, at, segment)) return at;
  return -1;
}

export function matchGlob(glob: CompiledGlob, value: string): boolean {
  const length = value.length;
  if (!glob.hasStar) return length === glob.head.length && segmentAt(value, 0, glob.head);
  if (length < glob.minLength) return false;
  const head = glob.head;
  const tail = glob.tail;
  if (!segmentAt(value, 0, head) || !segmentAt(value, length - tail.length, tail)) return false;
  let position = head.length;
  const end = length - tail.length;
  const middles = glob.middles;
  for (let i = 0; i < middles.length; i++) {
    const middle = middles[i] as string;
    const index = findSegment(value, middle, position, end);
    if (index === -1) return false;
    position = index + middle.length;
  }
  return true;
}

/** Matches one wildcard pattern against a value (case-sensitive, UTF-16 code units). */
export function globMatch(pattern: string, value: string): boolean {
  return matchGlob(compileGlob(pattern), value);
}

/** `a**b` matches what `a*b` matches; collapsing keeps the prefix fast path and the globs short. */
function collapseStars(pattern: string): string {
  return pattern.includes("**") ? pattern.replace(/\*{2,}/g, "*") : pattern;
}
