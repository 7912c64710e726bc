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
  // The texts repeat (a registry's logs carry a few dozen user agents): answers are remembered, within a bound,
  // so that the automaton, slower per text than a backtracking RegExp, runs once per distinct text.
  const answers = new Map<string, boolean>();
  return {
    source,
    test: (text) => {
      let answer = answers.get(text);
      if (answer === undefined) {
        answer = compiled.test(text);
        if (answers.size >= MAX_REMEMBERED) answers.clear();
        // A copy: the text may be a slice of a read chunk, which a remembered slice would keep alive.
        answers.set(Buffer.from(text).toString(), answer);
      }
      return answer;
    },
  };
}

const MAX_REMEMBERED = 10_000;
