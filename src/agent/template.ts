/**
 * `--template` files: text with `{{advertised.<group>}}` (host:port), `{{advertised.<group>.host}}`
 * and `{{advertised.<group>.port}}` filled in from the heartbeat answer's `advertised` map, e.g.
 * a Kafka `server.properties` line `advertised.listeners=EXTERNAL://{{advertised.privatelink}}`.
 *
 * Group names may hold dots, so `advertised.a.host` is the whole address of a group `a.host` if
 * there is one, else the host of group `a`. Any other `{{…}}` is refused when the agent starts,
 * so a typo never reaches the node's configuration as literal braces.
 */
import { parseHostPort } from '../util/host-port.js';

export class TemplateError extends Error {}

type Part = { readonly text: string } | { readonly placeholder: string; readonly name: string };

export interface Template {
  readonly parts: readonly Part[];
}

export type Rendered = { ok: true; text: string } | { ok: false; missing: string[] };

const PLACEHOLDER = /\{\{([^{}]*)\}\}/g;
const ADVERTISED = /^advertised\.([A-Za-z0-9._-]+)$/;

export function parseTemplate(source: string): Template {
  const parts: Part[] = [];
  let last = 0;
  for (const match of source.matchAll(PLACEHOLDER)) {
    const name = ADVERTISED.exec(match[1]!.trim())?.[1];
    if (name === undefined) {
      const line = source.slice(0, match.index).split('\n').length;
      throw new TemplateError(
        `line ${line}: unknown placeholder ${match[0]}; expected {{advertised.<group>}}, {{advertised.<group>.host}} or {{advertised.<group>.port}}`,
      );
    }
    if (match.index > last) parts.push({ text: source.slice(last, match.index) });
    parts.push({ placeholder: match[0], name });
    last = match.index + match[0].length;
  }
  if (last < source.length) parts.push({ text: source.slice(last) });
  return { parts };
}

/** The text, or the placeholders that the map cannot fill (their groups have no address). */
export function renderTemplate(template: Template, advertised: Readonly<Record<string, string>>): Rendered {
  let text = '';
  const missing: string[] = [];
  for (const part of template.parts) {
    if ('text' in part) {
      text += part.text;
      continue;
    }
    const value = lookUp(part.name, advertised);
    if (value === undefined) missing.push(part.placeholder);
    else text += value;
  }
  return missing.length > 0 ? { ok: false, missing: [...new Set(missing)] } : { ok: true, text };
}

function lookUp(name: string, advertised: Readonly<Record<string, string>>): string | undefined {
  if (Object.hasOwn(advertised, name)) return advertised[name];
  const field = /\.(host|port)$/.exec(name)?.[1] as 'host' | 'port' | undefined;
  if (field === undefined) return undefined;
  const group = name.slice(0, -'.host'.length);
  if (!Object.hasOwn(advertised, group)) return undefined;
  const parsed = parseHostPort(advertised[group]!);
  if (!parsed.ok) return undefined;
  return field === 'host' ? parsed.value.host : String(parsed.value.port);
}
