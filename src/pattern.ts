import { RE2JS } from 're2js';

/**
 * A regular expression from a setting (`PROTECT_TAGS`, `REPOSITORY_FILTER`, `IGNORE_USER_AGENTS`), matched anywhere
 * in a text. RE2 syntax, run by an automaton in time linear in the text: no pattern can make a run backtrack for
 * hours. It is also the syntax of KQL's `matches regex`, so the Log Analytics query filters with the same pattern.
 */
export interface TextPattern {
  readonly source: string;
  test(text: string): boolean;
}

export class PatternSyntaxError extends Error {
  override readonly name = 'PatternSyntaxError';
}

export function compilePattern(source: string): TextPattern {
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(source);
  } catch (error) {
    const detail = (error as Error).message.replace(/^error parsing regexp: /, '');
    throw new PatternSyntaxError(`${detail} (RE2 syntax: no lookaround and no backreferences, so that matching takes linear time)`);
  }
  return { source, test: (text) => compiled.test(text) };
}
