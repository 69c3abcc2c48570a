/** The text of a top-level JSON member as written, which JSON.parse does not keep. */
import { describe, expect, it } from 'vitest';
import { topLevelValueText } from '../../../src/sources/http/json-literal.js';

describe('topLevelValueText', () => {
  it.each([
    ['{"epoch":1e-400}', '1e-400'],
    ['{ "a" : "x\\"epoch\\":1" , "epoch" :\n 0.0 }', '0.0'],
    ['{"labels":{"epoch":"7"},"epoch":3}', '3'],
    ['{"l":[{"epoch":1},"]"],"epoch":-0}', '-0'],
    ['{"epoch":1,"epoch":2.5}', '2.5'],
    ['{"\\u0065poch":9}', '9'],
    ['{"epoch":"3"}', '"3"'],
  ])('finds the value of epoch in %s', (json, text) => {
    expect(topLevelValueText(json, 'epoch')).toBe(text);
  });

  it.each([['{}'], ['{"labels":{"epoch":1}}'], ['[{"epoch":1}]'], ['{"epoch":'], ['\u0000{"epoch":1}'], ['']])('finds none in %j', (json) => {
    expect(topLevelValueText(json, 'epoch')).toBeUndefined();
  });
});
