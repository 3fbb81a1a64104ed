/**
 * JSON.parse that keeps every digit of integers past 2^53 (as `bigint`), because versions
 * are u64 and clients send them as plain JSON integers. Node 20's JSON.parse has no access
 * to the source text of a number, so:
 *
 * - fast path: a frame without a run of 16+ digits cannot hold an unsafe integer, so plain
 *   JSON.parse is exact;
 * - slow path: one linear scan rewrites each unsafe integer literal in value position into
 *   a sentinel string (`"\u0000<digits>"`), JSON.parse does all the validation, and one
 *   iterative walk (no recursion, so deep nesting cannot overflow the stack) turns the
 *   sentinels into `bigint`s. A client string value that itself starts with U+0000 is
 *   escaped by doubling that character during the scan and restored by the walk, so no
 *   client text can pose as a sentinel. Literals followed by `:` (a key position: invalid
 *   JSON) are left alone so that JSON.parse still rejects them.
 *
 * Bounds (docs/limits.md), so that a frame's cost is linear in its size and small: a number
 * literal longer than `maxDigits` characters (BigInt of 520k digits took 100 ms) and nesting
 * deeper than `maxDepth` (250k levels took 70 ms) are SyntaxErrors, found by a linear scan
 * before anything is built.
 */

const LONG_DIGITS = /\d{16}/;
const INTEGER = /^-?(0|[1-9][0-9]*)$/;
/** A U+0000 as JSON text: it cannot appear raw in a JSON string, only escaped. */
const NUL_ESCAPE = "\\u0000";

export interface JsonLimits {
  /** Longest number literal accepted, in characters (u64 needs 20). */
  readonly maxDigits: number;
  /** Deepest nesting of arrays and objects accepted. */
  readonly maxDepth: number;
}

export const DEFAULT_JSON_LIMITS: JsonLimits = { maxDigits: 40, maxDepth: 32 };

/** Parses JSON; throws SyntaxError like JSON.parse. Unsafe integers come back as `bigint`. */
export function parseJson(text: string, limits: JsonLimits = DEFAULT_JSON_LIMITS): unknown {
  // Nesting needs two characters per level: shorter texts cannot be too deep.
  if (text.length > 2 * limits.maxDepth) checkDepth(text, limits.maxDepth);
  if (!LONG_DIGITS.test(text)) return JSON.parse(text);
  const rewritten = quoteBigIntegers(text, limits.maxDigits);
  const value: unknown = JSON.parse(rewritten);
  return rewritten === text ? value : reviveAll(value);
}

/** Replaces sentinels (and un-doubles escaped client strings) in place, without recursion. */
function reviveAll(root: unknown): unknown {
  if (typeof root === "string") return revive(root);
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node !== "object" || node === null) continue;
    const holder = node as Record<string, unknown>;
    for (const key of Object.keys(holder)) {
      const v = holder[key];
      if (typeof v === "string") {
        if (v.charCodeAt(0) !== 0) continue;
        // `__proto__` is an own data property here (JSON.parse defines it); plain
        // assignment would hit the prototype setter instead.
        Object.defineProperty(holder, key, {
          value: revive(v),
          writable: true,
          enumerable: true,
          configurable: true,
        });
      } else if (typeof v === "object" && v !== null) {
        stack.push(v);
      }
    }
  }
  return root;
}

function revive(v: string): unknown {
  if (v.charCodeAt(0) !== 0) return v;
  return v.charCodeAt(1) === 0 ? v.slice(1) : BigInt(v.slice(1));
}

function isNumberChar(c: number): boolean {
  // 0-9 . - + e E
  return (c >= 48 && c <= 57) || c === 46 || c === 45 || c === 43 || c === 101 || c === 69;
}

/** Index of the first non-whitespace character at or after `i` (JSON whitespace). */
function skipSpace(text: string, i: number): number {
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 10 && c !== 13) break;
    i++;
  }
  return i;
}

/** Throws SyntaxError when arrays/objects nest deeper than `max` (outside strings). */
function checkDepth(text: string, max: number): void {
  let depth = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 92 /* \ */) i++;
        else if (d === 34) break;
      }
    } else if (c === 91 /* [ */ || c === 123 /* { */) {
      if (++depth > max) throw new SyntaxError(`JSON nested deeper than ${max}`);
    } else if (c === 93 /* ] */ || c === 125 /* } */) {
      depth--;
    }
  }
}

function quoteBigIntegers(text: string, maxDigits: number): string {
  let out = "";
  let last = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      const open = i;
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 92 /* \ */) i += 2;
        else if (d === 34) break;
        else i++;
      }
      i++;
      // A string value starting with U+0000 would read as a sentinel: double that char.
      if (text.startsWith(NUL_ESCAPE, open + 1) && text.charCodeAt(skipSpace(text, i)) !== 58) {
        out += `${text.slice(last, open + 1)}${NUL_ESCAPE}`;
        last = open + 1;
      }
    } else if (c === 45 || (c >= 48 && c <= 57)) {
      const start = i;
      while (i < n && isNumberChar(text.charCodeAt(i))) i++;
      if (i - start > maxDigits) throw new SyntaxError(`JSON number longer than ${maxDigits}`);
      const token = text.slice(start, i);
      if (
        INTEGER.test(token) &&
        !Number.isSafeInteger(Number(token)) &&
        text.charCodeAt(skipSpace(text, i)) !== 58 /* : */
      ) {
        out += `${text.slice(last, start)}"${NUL_ESCAPE}${token}"`;
        last = i;
      }
    } else {
      i++;
    }
  }
  return last === 0 ? text : out + text.slice(last);
}
