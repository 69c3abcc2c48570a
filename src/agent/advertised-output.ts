/**
 * Where the heartbeat answers' `advertised` map goes: `--advertised-file` (JSON
 * `{"<group>": "host:port"}`) and each `--template` output, each written atomically (a reader sees
 * the old file or the new one, never half) and only when its text changes.
 */
import type { Logger } from 'pino';
import { writeAtomically, tempPathFor } from '../util/atomic-write.js';
import type { TemplateSpec } from './flags.js';
import { renderTemplate } from './template.js';

/** Read by the node (often as another user): not secret, unlike the state file. */
const OUTPUT_MODE = 0o644;

export class AdvertisedOutputs {
  /** What each output holds now, as this agent wrote it. */
  private readonly written = new Map<string, string>();
  /** Per template, the last complaint, so that one is logged once and not at every heartbeat. */
  private readonly complaints = new Map<string, string>();

  constructor(
    private readonly advertisedFile: string | undefined,
    private readonly templates: readonly TemplateSpec[],
    private readonly logger: Logger,
    private readonly write: (file: string, text: string) => void = (file, text) => writeAtomically(file, text, tempPathFor, { mode: OUTPUT_MODE }),
  ) {}

  /**
   * Writes whatever changed. True when every output holds this map and the map is not empty:
   * what `--wait-advertised` waits for.
   */
  update(advertised: Readonly<Record<string, string>>): boolean {
    let complete = Object.keys(advertised).length > 0;
    if (this.advertisedFile !== undefined) {
      const sorted = Object.fromEntries(Object.entries(advertised).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      if (!this.put(this.advertisedFile, `${JSON.stringify(sorted)}\n`, { advertised: sorted })) complete = false;
    }
    for (const spec of this.templates) {
      const rendered = renderTemplate(spec.template, advertised);
      if (!rendered.ok) {
        complete = false;
        const complaint = rendered.missing.join(' ');
        if (this.complaints.get(spec.output) !== complaint) {
          this.complaints.set(spec.output, complaint);
          this.logger.warn(
            { template: spec.input, output: spec.output, missing: rendered.missing, advertised },
            `template ${spec.input} not rendered: no advertised address for ${complaint}; ${spec.output} stays as it is`,
          );
        }
        continue;
      }
      this.complaints.delete(spec.output);
      if (!this.put(spec.output, rendered.text, { template: spec.input })) complete = false;
    }
    return complete;
  }

  private put(file: string, text: string, fields: Record<string, unknown>): boolean {
    if (this.written.get(file) === text) return true;
    try {
      this.write(file, text);
    } catch (error) {
      // Tried again at the next answer; the old file stays whole meanwhile.
      this.logger.error({ file, error: (error as Error).message }, `cannot write ${file}; trying again at the next heartbeat`);
      this.written.delete(file);
      return false;
    }
    this.written.set(file, text);
    this.logger.info({ file, ...fields }, `wrote ${file}`);
    return true;
  }
}
