/**
 * The text of a value as written in a JSON object, for rules that the parsed value cannot show:
 * JSON.parse reads `1e-400` as 0 and `9007199254740991.4` as 2^53-1.
 */

/** The text of the last top-level `key` member's value (JSON.parse keeps the last of duplicates); undefined if absent or not a JSON object. */
export function topLevelValueText(json: string, key: string): string | undefined {
  const scan = new Scanner(json);
  if (!scan.take('{')) return undefined;
  let found: string | undefined;
  if (scan.take('}')) return undefined;
  for (;;) {
    const name = scan.string();
    if (name === undefined || !scan.take(':')) return undefined;
    const value = scan.value();
    if (value === undefined) return undefined;
    if (name === key) found = value;
    if (scan.take('}')) return found;
    if (!scan.take(',')) return undefined;
  }
}

class Scanner {
  private at = 0;

  constructor(private readonly text: string) {}

  /** Skips white space, then consumes `char` if it is next. */
  take(char: string): boolean {
    this.skipSpace();
    if (this.text[this.at] !== char) return false;
    this.at++;
    return true;
  }

  /** A string token, decoded; undefined if none is next. */
  string(): string | undefined {
    this.skipSpace();
    const start = this.at;
    if (!this.skipString()) return undefined;
    try {
      return JSON.parse(this.text.slice(start, this.at)) as string;
    } catch {
      return undefined;
    }
  }

  /** The text of the next value, however nested; undefined if the text ends first. */
  value(): string | undefined {
    this.skipSpace();
    const start = this.at;
    const first = this.text[this.at];
    if (first === '"') {
      if (!this.skipString()) return undefined;
    } else if (first === '{' || first === '[') {
      if (!this.skipNested()) return undefined;
    } else {
      while (this.at < this.text.length && !/[\s,:{}[\]"]/.test(this.text[this.at]!)) this.at++;
    }
    return this.at > start ? this.text.slice(start, this.at) : undefined;
  }

  private skipSpace(): void {
    while (this.at < this.text.length && ' \t\n\r'.includes(this.text[this.at]!)) this.at++;
  }

  private skipString(): boolean {
    if (this.text[this.at] !== '"') return false;
    for (this.at++; this.at < this.text.length; this.at++) {
      const char = this.text[this.at];
      if (char === '\\') this.at++;
      else if (char === '"') {
        this.at++;
        return true;
      }
    }
    return false;
  }

  private skipNested(): boolean {
    let depth = 0;
    while (this.at < this.text.length) {
      const char = this.text[this.at]!;
      if (char === '"') {
        if (!this.skipString()) return false;
        continue;
      }
      if (char === '{' || char === '[') depth++;
      else if (char === '}' || char === ']') depth--;
      this.at++;
      if (depth === 0) return true;
    }
    return false;
  }
}
