import { RE2JS } from 're2js';

/**
 * A small interpreter for the part of KQL that the Log Analytics source's query uses, so that the stand-in
 * service answers what the query *says* over a table of rows (a change to the query's filter changes the answer):
 * `let`, `where`, `extend`, `summarize … by`, `union`, `project`; `and`, `or`, `not()`, `==`, `!=`, `in`,
 * `between (a .. b)`, `startswith(_cs)`, `endswith(_cs)`, `contains(_cs)`, `matches regex` (RE2, as in KQL);
 * `tolower()`, `isempty()`, `isnotempty()`, `datetime()`, `count()`, `max()`. Times are epoch milliseconds.
 * Anything else is a syntax error, so the interpreter cannot silently skip a filter it does not know.
 */

export type Value = string | number | boolean | null;
export type Row = Record<string, Value>;

type Token = { kind: 'string' | 'identifier' | 'number' | 'datetime' | 'symbol'; text: string };

function tokenize(query: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < query.length) {
    const c = query[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '@' && query[i + 1] === '"') {
      let text = '';
      i += 2;
      for (;;) {
        if (i >= query.length) throw new SyntaxError('unterminated verbatim string');
        if (query[i] === '"' && query[i + 1] === '"') {
          text += '"';
          i += 2;
        } else if (query[i] === '"') {
          break;
        } else {
          text += query[i++];
        }
      }
      i++;
      tokens.push({ kind: 'string', text });
    } else if (c === '"') {
      let text = '';
      i++;
      while (query[i] !== '"') {
        if (i >= query.length) throw new SyntaxError('unterminated string');
        if (query[i] === '\\') i++;
        text += query[i++];
      }
      i++;
      tokens.push({ kind: 'string', text });
    } else if (/[A-Za-z_]/.test(c)) {
      const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(query.slice(i))![0];
      i += match.length;
      if (match === 'datetime' && query[i] === '(') {
        const end = query.indexOf(')', i);
        tokens.push({ kind: 'datetime', text: query.slice(i + 1, end).trim() });
        i = end + 1;
      } else {
        tokens.push({ kind: 'identifier', text: match });
      }
    } else if (/[0-9]/.test(c)) {
      const match = /^[0-9]+/.exec(query.slice(i))![0];
      i += match.length;
      tokens.push({ kind: 'number', text: match });
    } else {
      const symbol = ['==', '!=', '>=', '<=', '..'].find((two) => query.startsWith(two, i)) ?? c;
      if (!['==', '!=', '>=', '<=', '..', '|', '(', ')', ',', ';', '=', '>', '<'].includes(symbol)) throw new SyntaxError(`unexpected ${JSON.stringify(c)}`);
      i += symbol.length;
      tokens.push({ kind: 'symbol', text: symbol });
    }
  }
  return tokens;
}

type Expression = (row: Row) => Value;
type Tabular = (tables: Map<string, Row[]>) => Row[];

class Parser {
  private at = 0;
  constructor(private readonly tokens: Token[]) {}

  program(): Tabular {
    const lets: [string, Tabular][] = [];
    while (this.peekIdentifier('let')) {
      this.next();
      const name = this.expect('identifier').text;
      this.expectSymbol('=');
      lets.push([name, this.pipeline()]);
      this.expectSymbol(';');
    }
    const body = this.pipeline();
    if (this.at !== this.tokens.length) throw new SyntaxError(`unexpected ${this.tokens[this.at]!.text}`);
    return (tables) => {
      const scope = new Map(tables);
      for (const [name, tabular] of lets) scope.set(name, tabular(scope));
      return body(scope);
    };
  }

  private pipeline(): Tabular {
    let source: Tabular;
    if (this.peekSymbol('(')) {
      this.next();
      source = this.pipeline();
      this.expectSymbol(')');
    } else {
      const name = this.expect('identifier').text;
      source = (tables) => {
        const rows = tables.get(name);
        if (rows === undefined) throw new Error(`'${name}': failed to resolve table or column expression`);
        return rows;
      };
    }
    while (this.peekSymbol('|')) {
      this.next();
      source = this.operator(source);
    }
    return source;
  }

  private operator(input: Tabular): Tabular {
    const name = this.expect('identifier').text;
    switch (name) {
      case 'where': {
        const predicate = this.expression();
        return (tables) => input(tables).filter((row) => predicate(row) === true);
      }
      case 'extend': {
        const assignments = this.assignments();
        return (tables) => input(tables).map((row) => {
          const next = { ...row };
          for (const [column, expression] of assignments) next[column] = expression(row);
          return next;
        });
      }
      case 'summarize':
        return this.summarize(input);
      case 'union': {
        const other = this.pipeline();
        return (tables) => [...input(tables), ...other(tables)];
      }
      case 'project': {
        const columns = this.identifiers();
        return (tables) => input(tables).map((row) => Object.fromEntries(columns.map((column) => [column, row[column] ?? null])));
      }
      default:
        throw new SyntaxError(`unsupported operator ${name}`);
    }
  }

  private summarize(input: Tabular): Tabular {
    const aggregates: [string, string, Expression | undefined][] = [];
    do {
      if (aggregates.length > 0) this.next();
      const column = this.expect('identifier').text;
      this.expectSymbol('=');
      const fn = this.expect('identifier').text;
      if (fn !== 'count' && fn !== 'max') throw new SyntaxError(`unsupported aggregate ${fn}`);
      this.expectSymbol('(');
      const argument = fn === 'max' ? this.expression() : undefined;
      this.expectSymbol(')');
      aggregates.push([column, fn, argument]);
    } while (this.peekSymbol(','));
    const keys: string[] = [];
    if (this.peekIdentifier('by')) {
      this.next();
      keys.push(...this.identifiers());
    }
    return (tables) => {
      const groups = new Map<string, Row[]>();
      const rows = input(tables);
      if (keys.length === 0) groups.set('', rows);
      for (const row of keys.length === 0 ? [] : rows) {
        const key = JSON.stringify(keys.map((column) => row[column]));
        groups.set(key, [...(groups.get(key) ?? []), row]);
      }
      return [...groups.values()].map((members) => {
        const out: Row = Object.fromEntries(keys.map((column) => [column, members[0]![column] ?? null]));
        for (const [column, fn, argument] of aggregates) {
          if (fn === 'count') out[column] = members.length;
          else {
            const values = members.map((member) => argument!(member)).filter((value): value is number => typeof value === 'number');
            out[column] = values.length === 0 ? null : Math.max(...values);
          }
        }
        return out;
      });
    };
  }

  private identifiers(): string[] {
    const names = [this.expect('identifier').text];
    while (this.peekSymbol(',')) {
      this.next();
      names.push(this.expect('identifier').text);
    }
    return names;
  }

  private assignments(): [string, Expression][] {
    const list: [string, Expression][] = [];
    do {
      if (list.length > 0) this.next();
      const column = this.expect('identifier').text;
      this.expectSymbol('=');
      list.push([column, this.expression()]);
    } while (this.peekSymbol(','));
    return list;
  }

  private expression(): Expression {
    let left = this.conjunction();
    while (this.peekIdentifier('or')) {
      this.next();
      const [a, b] = [left, this.conjunction()];
      left = (row) => a(row) === true || b(row) === true;
    }
    return left;
  }

  private conjunction(): Expression {
    let left = this.comparison();
    while (this.peekIdentifier('and')) {
      this.next();
      const [a, b] = [left, this.comparison()];
      left = (row) => a(row) === true && b(row) === true;
    }
    return left;
  }

  private comparison(): Expression {
    const left = this.primary();
    const token = this.tokens[this.at];
    if (token === undefined) return left;
    if (token.kind === 'symbol' && ['==', '!=', '>=', '<=', '>', '<'].includes(token.text)) {
      this.next();
      const right = this.primary();
      return (row) => compare(token.text, left(row), right(row));
    }
    if (token.kind !== 'identifier') return left;
    const op = token.text;
    if (op === 'in') {
      this.next();
      this.expectSymbol('(');
      const options = [this.primary()];
      while (this.peekSymbol(',')) {
        this.next();
        options.push(this.primary());
      }
      this.expectSymbol(')');
      return (row) => options.some((option) => option(row) === left(row));
    }
    if (op === 'between') {
      this.next();
      this.expectSymbol('(');
      const low = this.primary();
      this.expectSymbol('..');
      const high = this.primary();
      this.expectSymbol(')');
      return (row) => compare('>=', left(row), low(row)) && compare('<=', left(row), high(row));
    }
    if (op === 'matches') {
      this.next();
      if (this.expect('identifier').text !== 'regex') throw new SyntaxError('expected regex after matches');
      const pattern = this.primary();
      return (row) => RE2JS.compile(String(pattern(row))).test(String(left(row) ?? ''));
    }
    const text = TEXT_OPERATORS[op];
    if (text === undefined) return left;
    this.next();
    const right = this.primary();
    return (row) => {
      const caseSensitive = op.endsWith('_cs');
      const a = String(left(row) ?? '');
      const b = String(right(row) ?? '');
      return text(caseSensitive ? a : a.toLowerCase(), caseSensitive ? b : b.toLowerCase());
    };
  }

  private primary(): Expression {
    const token = this.next();
    if (token.kind === 'string') return () => token.text;
    if (token.kind === 'number') return () => Number(token.text);
    if (token.kind === 'datetime') {
      const ms = Date.parse(token.text);
      if (Number.isNaN(ms)) throw new SyntaxError(`bad datetime ${token.text}`);
      return () => ms;
    }
    if (token.kind === 'symbol' && token.text === '(') {
      const inner = this.expression();
      this.expectSymbol(')');
      return inner;
    }
    if (token.kind !== 'identifier') throw new SyntaxError(`unexpected ${token.text}`);
    if (this.peekSymbol('(')) {
      this.next();
      const argument = this.expression();
      this.expectSymbol(')');
      const fn = FUNCTIONS[token.text];
      if (fn === undefined) throw new SyntaxError(`unsupported function ${token.text}`);
      return (row) => fn(argument(row));
    }
    return (row) => {
      if (!(token.text in row)) throw new Error(`'${token.text}': failed to resolve column`);
      return row[token.text]!;
    };
  }

  private next(): Token {
    const token = this.tokens[this.at++];
    if (token === undefined) throw new SyntaxError('unexpected end of query');
    return token;
  }

  private expect(kind: Token['kind']): Token {
    const token = this.next();
    if (token.kind !== kind) throw new SyntaxError(`expected ${kind}, found ${token.text}`);
    return token;
  }

  private expectSymbol(symbol: string): void {
    const token = this.next();
    if (token.kind !== 'symbol' || token.text !== symbol) throw new SyntaxError(`expected ${symbol}, found ${token.text}`);
  }

  private peekSymbol(symbol: string): boolean {
    const token = this.tokens[this.at];
    return token?.kind === 'symbol' && token.text === symbol;
  }

  private peekIdentifier(text: string): boolean {
    const token = this.tokens[this.at];
    return token?.kind === 'identifier' && token.text === text;
  }
}

const TEXT_OPERATORS: Record<string, (text: string, part: string) => boolean> = {
  startswith: (text, part) => text.startsWith(part),
  startswith_cs: (text, part) => text.startsWith(part),
  endswith: (text, part) => text.endsWith(part),
  endswith_cs: (text, part) => text.endsWith(part),
  contains: (text, part) => text.includes(part),
  contains_cs: (text, part) => text.includes(part),
};

const FUNCTIONS: Record<string, (value: Value) => Value> = {
  tolower: (value) => (typeof value === 'string' ? value.toLowerCase() : value),
  isempty: (value) => value === null || value === '',
  isnotempty: (value) => value !== null && value !== '',
  not: (value) => value !== true,
};

function compare(op: string, a: Value, b: Value): boolean {
  switch (op) {
    case '==':
      return a === b;
    case '!=':
      return a !== b;
  }
  if (a === null || b === null) return false;
  switch (op) {
    case '>=':
      return a >= b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    default:
      return a < b;
  }
}

/** Runs `query` over `tables` (name → rows). */
export function runKql(query: string, tables: Record<string, Row[]>): Row[] {
  return new Parser(tokenize(query)).program()(new Map(Object.entries(tables)));
}
