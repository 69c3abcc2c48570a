/** The README's examples, read from the README itself so that the tests run them as written. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The text under a heading (any level), up to the next heading of the same or a higher level. */
export function readmeSection(heading: string): string {
  const lines = readFileSync(path.join(ROOT, 'README.md'), 'utf8').split('\n');
  const start = lines.findIndex((line) => /^#+ /.test(line) && line.replace(/^#+ /, '') === heading);
  if (start < 0) throw new Error(`README has no heading "${heading}"`);
  const level = lines[start]!.indexOf(' ');
  const end = lines.findIndex((line, i) => i > start && /^#+ /.test(line) && line.indexOf(' ') <= level);
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** The fenced code blocks of a section in a language (```sh; '' for plain blocks), in order. */
export function codeBlocks(section: string, language: string): string[] {
  const blocks: string[] = [];
  let open: { language: string; lines: string[] } | undefined;
  for (const line of section.split('\n')) {
    if (!line.startsWith('```')) {
      open?.lines.push(line);
    } else if (open) {
      if (open.language === language) blocks.push(open.lines.join('\n') + '\n');
      open = undefined;
    } else {
      open = { language: line.slice(3).trim(), lines: [] };
    }
  }
  return blocks;
}
