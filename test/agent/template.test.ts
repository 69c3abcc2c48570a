/** --template rendering and the outputs written from heartbeat answers. */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { AdvertisedOutputs } from '../../src/agent/advertised-output.js';
import { parseTemplate, renderTemplate, TemplateError } from '../../src/agent/template.js';

const advertised = { privatelink: 'kafka.test.com:6001', vpc: 'agents.vpc.internal:6002', v6: '[2001:db8::1]:7001' };

describe('templates', () => {
  it('fills the address, host and port of each group, and leaves the rest as written', () => {
    const template = parseTemplate(
      [
        'listeners=INTERNAL://0.0.0.0:9092,EXTERNAL://0.0.0.0:9093',
        'advertised.listeners=INTERNAL://10.0.0.1:9092,EXTERNAL://{{advertised.privatelink}}',
        '--rpc_proxy_advertised_addresses={{ advertised.vpc.host }}:{{advertised.vpc.port}}',
        'v6={{advertised.v6}} host={{advertised.v6.host}} port={{advertised.v6.port}}',
        'braces { } and {single} stay',
      ].join('\n'),
    );
    expect(renderTemplate(template, advertised)).toEqual({
      ok: true,
      text: [
        'listeners=INTERNAL://0.0.0.0:9092,EXTERNAL://0.0.0.0:9093',
        'advertised.listeners=INTERNAL://10.0.0.1:9092,EXTERNAL://kafka.test.com:6001',
        '--rpc_proxy_advertised_addresses=agents.vpc.internal:6002',
        'v6=[2001:db8::1]:7001 host=2001:db8::1 port=7001',
        'braces { } and {single} stay',
      ].join('\n'),
    });
  });

  it('takes a group whose name holds dots as a whole first', () => {
    const template = parseTemplate('{{advertised.a.host}} {{advertised.a.b}} {{advertised.a.b.port}}');
    expect(renderTemplate(template, { 'a.host': 'x.example:1', a: 'y.example:2', 'a.b': 'z.example:3' })).toEqual({ ok: true, text: 'x.example:1 z.example:3 3' });
    expect(renderTemplate(parseTemplate('{{advertised.a.host}}'), { a: 'y.example:2' })).toEqual({ ok: true, text: 'y.example' });
  });

  it('says which placeholders it cannot fill', () => {
    const template = parseTemplate('{{advertised.privatelink}} {{advertised.other}} {{advertised.other.port}} {{advertised.other}}');
    expect(renderTemplate(template, advertised)).toEqual({ ok: false, missing: ['{{advertised.other}}', '{{advertised.other.port}}'] });
    expect(renderTemplate(parseTemplate('plain text'), {})).toEqual({ ok: true, text: 'plain text' });
  });

  it.each([
    ['a\n{{advertized.privatelink}}', 'line 2: unknown placeholder {{advertized.privatelink}}'],
    ['{{advertised}}', 'line 1: unknown placeholder {{advertised}}'],
    ['{{advertised.}}', 'unknown placeholder'],
    ['{{advertised.bad group}}', 'unknown placeholder'],
    ['{{ .Values.x }}', 'unknown placeholder'],
  ])('refuses %j', (text, message) => {
    expect(() => parseTemplate(text)).toThrow(TemplateError);
    expect(() => parseTemplate(text)).toThrow(message);
  });
});

describe('advertised outputs', () => {
  function setUp() {
    const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-agent-out-'));
    const input = path.join(dir, 'server.properties.in');
    writeFileSync(input, 'advertised.listeners=EXTERNAL://{{advertised.privatelink}}\n');
    const file = path.join(dir, 'advertised.json');
    const output = path.join(dir, 'server.properties');
    const writes: string[] = [];
    const outputs = new AdvertisedOutputs(file, [{ input, output, template: parseTemplate(readFileSync(input, 'utf8')) }], pino({ level: 'silent' }), (f, text) => {
      writes.push(f);
      writeFileSync(f, text);
    });
    return { dir, file, output, writes, outputs };
  }

  it('writes the file and the template, then nothing until the map changes', () => {
    const { file, output, writes, outputs } = setUp();
    expect(outputs.update({ privatelink: 'kafka.test.com:6001', vpc: 'v.internal:1' })).toBe(true);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ privatelink: 'kafka.test.com:6001', vpc: 'v.internal:1' });
    expect(readFileSync(output, 'utf8')).toBe('advertised.listeners=EXTERNAL://kafka.test.com:6001\n');
    expect(writes).toHaveLength(2);
    // Same map in another order: the same text, nothing written.
    expect(outputs.update({ vpc: 'v.internal:1', privatelink: 'kafka.test.com:6001' })).toBe(true);
    expect(writes).toHaveLength(2);
    // Only the file changes when a group the template does not use changes.
    outputs.update({ privatelink: 'kafka.test.com:6001' });
    expect(writes).toEqual([file, output, file]);
  });

  it('is not complete while the map is empty or a template cannot be filled, and keeps the old output', () => {
    const { file, output, outputs } = setUp();
    expect(outputs.update({})).toBe(false);
    expect(readFileSync(file, 'utf8')).toBe('{}\n');
    expect(() => statSync(output)).toThrow();
    expect(outputs.update({ vpc: 'v.internal:1' })).toBe(false);
    expect(outputs.update({ privatelink: 'kafka.test.com:6001' })).toBe(true);
    expect(outputs.update({})).toBe(false);
    expect(readFileSync(output, 'utf8')).toBe('advertised.listeners=EXTERNAL://kafka.test.com:6001\n');
  });

  it('tries a write that failed again at the next answer', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-agent-out-'));
    const file = path.join(dir, 'advertised.json');
    let fail = true;
    const outputs = new AdvertisedOutputs(file, [], pino({ level: 'silent' }), (f, text) => {
      if (fail) throw new Error('EACCES');
      writeFileSync(f, text);
    });
    expect(outputs.update({ g: 'h.example:1' })).toBe(false);
    fail = false;
    expect(outputs.update({ g: 'h.example:1' })).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe('{"g":"h.example:1"}\n');
  });

  it('writes atomically, readable by others (0644 before the umask)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-agent-out-'));
    const file = path.join(dir, 'advertised.json');
    new AdvertisedOutputs(file, [], pino({ level: 'silent' })).update({ g: 'h.example:1' });
    expect(readFileSync(file, 'utf8')).toBe('{"g":"h.example:1"}\n');
    expect(statSync(file).mode & 0o644 & ~process.umask()).toBe(0o644 & ~process.umask());
  });
});
