import { RE2JS } from 're2js';

/**
 * A small interpreter for exactly the KQL this project sends or deploys, over tables given as rows: the Log
 * Analytics source's access query (src/accessLog/sources/logAnalytics.ts) over `ContainerRegistryRepositoryEvents`,
 * and the alerts (infra/app/monitoring/*.kql) and the workbook over Application Insights' `customEvents`. It reads
 * the query text, so a query that names a table, a column, or a key of a property bag (`customDimensions`,
 * `customMeasurements`) that the rows do not have fails here, as does an operator or function it does not know
 * (real KQL would quietly return nothing for an unknown bag key).
 *
 * Statements: `let name = <tabular>;` then a tabular expression. Tabular operators: where, extend, project,
 * summarize … by …, order by / sort by, take / limit, mv-expand bagexpansion=array, union (T). Scalars: literals
 * (string, verbatim @"…", number, bool, timespan, datetime(…)), columns, `.key`, `["key"]`, `[index]`,
 * == != < <= > >= =~ in !in between (a .. b), startswith endswith contains (and their _cs forms),
 * matches regex (RE2, as in KQL), and or + - * /, and the functions in FUNCTIONS and AGGREGATES.
 */

export type KqlValue = string | number | boolean | null | Date | Timespan | KqlValue[] | { [key: string]: KqlValue };
export type KqlRow = Record<string, KqlValue>;

export class Timespan {
  constructor(readonly ms: number) {}
}

export class KqlError extends Error {
  override readonly name = 'KqlError';
}

export interface KqlTable {
  rows: KqlRow[];
  /** Columns every row has (also when no row has a value). */
  columns: string[];
  /** For the table's property-bag columns: the keys that may be read (the test's strict schema). */
  bagKeys?: Record<string, Set<string>>;
}

export interface KqlOptions {
  /** What `now()` and `ago()` are relative to (a query that uses them needs it). */
  now?: Date;
}

// ---- tokens -----------------------------------------------------------------------------------------------------

type Token = { kind: 'ident' | 'string' | 'number' | 'timespan' | 'datetime' | 'op'; text: string; value?: string | number };

const TIMESPAN_UNITS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** A KQL string literal's value ("…" or '…', with backslash escapes). */
function unquote(literal: string): string {
  return literal.slice(1, -1).replace(/\\(.)/g, (_, character: string) => ({ n: '\n', t: '\t', r: '\r' })[character] ?? character);
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let index = 0;
  while (index < text.length) {
    const rest = text.slice(index);
    const space = /^(\s+|\/\/[^\n]*)/.exec(rest);
    if (space) {
      index += space[0].length;
      continue;
    }
    const verbatim = /^@"((?:[^"]|"")*)"/.exec(rest);
    if (verbatim) {
      tokens.push({ kind: 'string', text: verbatim[0], value: verbatim[1]!.replaceAll('""', '"') });
      index += verbatim[0].length;
      continue;
    }
    const datetime = /^datetime\(\s*([^)]*?)\s*\)/.exec(rest);
    if (datetime) {
      const ms = Date.parse(datetime[1]!);
      if (Number.isNaN(ms)) throw new KqlError(`bad datetime ${datetime[0]}`);
      tokens.push({ kind: 'datetime', text: datetime[0], value: ms });
      index += datetime[0].length;
      continue;
    }
    const string = /^("([^"\\]|\\.)*"|'([^'\\]|\\.)*')/.exec(rest);
    if (string) {
      tokens.push({ kind: 'string', text: string[0], value: unquote(string[0]) });
      index += string[0].length;
      continue;
    }
    const timespan = /^(\d+(?:\.\d+)?)(ms|d|h|m|s)\b/.exec(rest);
    if (timespan) {
      tokens.push({ kind: 'timespan', text: timespan[0], value: Number(timespan[1]) * TIMESPAN_UNITS[timespan[2]!]! });
      index += timespan[0].length;
      continue;
    }
    const number = /^\d+(\.\d+)?/.exec(rest);
    if (number) {
      tokens.push({ kind: 'number', text: number[0], value: Number(number[0]) });
      index += number[0].length;
      continue;
    }
    const ident = /^(mv-expand|[A-Za-z_][A-Za-z0-9_]*)/.exec(rest);
    if (ident) {
      tokens.push({ kind: 'ident', text: ident[0] });
      index += ident[0].length;
      continue;
    }
    const op = /^(==|!=|<=|>=|=~|!in\b|\.\.|[|(),.[\]=<>+\-*/;])/.exec(rest);
    if (op) {
      tokens.push({ kind: 'op', text: op[0] });
      index += op[0].length;
      continue;
    }
    throw new KqlError(`cannot read the query at "${rest.slice(0, 20)}"`);
  }
  return tokens;
}

// ---- syntax -----------------------------------------------------------------------------------------------------

type Expr =
  | { type: 'literal'; value: KqlValue }
  | { type: 'column'; name: string }
  | { type: 'member'; object: Expr; key: string }
  | { type: 'index'; object: Expr; index: Expr }
  | { type: 'call'; name: string; args: Expr[]; star?: boolean }
  | { type: 'binary'; op: string; left: Expr; right: Expr }
  | { type: 'in'; negated: boolean; left: Expr; list: Expr[] }
  | { type: 'between'; left: Expr; low: Expr; high: Expr }
  | { type: 'text'; op: string; left: Expr; right: Expr }
  | { type: 'regex'; left: Expr; pattern: Expr };

type Assignment = { name: string | undefined; expr: Expr };

type Operator =
  | { kind: 'where'; predicate: Expr }
  | { kind: 'extend'; assignments: Assignment[] }
  | { kind: 'project'; assignments: Assignment[] }
  | { kind: 'summarize'; aggregates: Assignment[]; by: Assignment[] }
  | { kind: 'order'; keys: { expr: Expr; descending: boolean }[] }
  | { kind: 'take'; count: number }
  | { kind: 'mv-expand'; column: string }
  | { kind: 'union'; other: Pipeline };

/** A table (an input or a `let`) or a parenthesized pipeline, then its operators. */
interface Pipeline {
  source: { table: string } | { pipeline: Pipeline };
  operators: Operator[];
}

interface Query {
  lets: [name: string, pipeline: Pipeline][];
  body: Pipeline;
}

const TEXT_OPERATORS: Record<string, (text: string, part: string) => boolean> = {
  startswith: (text, part) => text.startsWith(part),
  endswith: (text, part) => text.endsWith(part),
  contains: (text, part) => text.includes(part),
};

class Parser {
  private position = 0;
  constructor(private readonly tokens: Token[]) {}

  parseQuery(): Query {
    const lets: Query['lets'] = [];
    while (this.acceptIdent('let')) {
      const name = this.expectIdent();
      this.expectOp('=');
      lets.push([name, this.parsePipeline()]);
      this.expectOp(';');
    }
    const body = this.parsePipeline();
    const rest = this.peek();
    if (rest) throw new KqlError(`unexpected "${rest.text}"`);
    return { lets, body };
  }

  private parsePipeline(): Pipeline {
    const source = this.parseSource();
    const operators: Operator[] = [];
    while (this.acceptOp('|')) operators.push(this.parseOperator());
    return { source, operators };
  }

  private parseSource(): Pipeline['source'] {
    if (this.acceptOp('(')) {
      const pipeline = this.parsePipeline();
      this.expectOp(')');
      return { pipeline };
    }
    return { table: this.expectIdent() };
  }

  private parseOperator(): Operator {
    const name = this.expectIdent();
    switch (name) {
      case 'where':
        return { kind: 'where', predicate: this.parseExpr() };
      case 'extend':
        return { kind: 'extend', assignments: this.parseAssignments() };
      case 'project':
        return { kind: 'project', assignments: this.parseAssignments() };
      case 'summarize': {
        const aggregates = this.parseAssignments();
        let by: Assignment[] = [];
        if (this.acceptIdent('by')) by = this.parseAssignments();
        return { kind: 'summarize', aggregates, by };
      }
      case 'order':
      case 'sort': {
        if (!this.acceptIdent('by')) throw new KqlError(`${name} needs "by"`);
        const keys: { expr: Expr; descending: boolean }[] = [];
        do {
          const expr = this.parseExpr();
          const descending = this.acceptIdent('asc') ? false : (this.acceptIdent('desc'), true);
          keys.push({ expr, descending });
        } while (this.acceptOp(','));
        return { kind: 'order', keys };
      }
      case 'take':
      case 'limit':
        return { kind: 'take', count: Number(this.expect('number').value) };
      case 'mv-expand': {
        if (this.acceptIdent('bagexpansion')) {
          this.expectOp('=');
          if (this.expectIdent() !== 'array') throw new KqlError('only bagexpansion=array is supported');
        } else throw new KqlError('mv-expand: say bagexpansion=array (the only expansion this interpreter knows)');
        return { kind: 'mv-expand', column: this.expectIdent() };
      }
      case 'union':
        return { kind: 'union', other: { source: this.parseSource(), operators: [] } };
      default:
        throw new KqlError(`unsupported operator "${name}"`);
    }
  }

  private parseAssignments(): Assignment[] {
    const assignments: Assignment[] = [];
    do {
      const token = this.peek();
      const next = this.tokens[this.position + 1];
      if (token?.kind === 'ident' && next?.kind === 'op' && next.text === '=') {
        this.position += 2;
        assignments.push({ name: token.text, expr: this.parseExpr() });
      } else assignments.push({ name: undefined, expr: this.parseExpr() });
    } while (this.acceptOp(','));
    return assignments;
  }

  private parseExpr(): Expr {
    return this.parseBinary(0);
  }

  private static readonly LEVELS: string[][] = [
    ['or'],
    ['and'],
    ['==', '!=', '<', '<=', '>', '>=', '=~', 'in', '!in', 'between', 'matches', ...Object.keys(TEXT_OPERATORS).flatMap((op) => [op, `${op}_cs`])],
    ['+', '-'],
    ['*', '/'],
  ];

  private parseBinary(level: number): Expr {
    if (level === Parser.LEVELS.length) return this.parsePostfix();
    let left = this.parseBinary(level + 1);
    for (;;) {
      const token = this.peek();
      const op = token && (token.kind === 'op' || token.kind === 'ident') && Parser.LEVELS[level]!.includes(token.text) ? token.text : undefined;
      if (op === undefined) return left;
      this.position++;
      if (op === 'in' || op === '!in') {
        this.expectOp('(');
        const list: Expr[] = [];
        do list.push(this.parseExpr());
        while (this.acceptOp(','));
        this.expectOp(')');
        left = { type: 'in', negated: op === '!in', left, list };
      } else if (op === 'between') {
        this.expectOp('(');
        const low = this.parseExpr();
        this.expectOp('..');
        const high = this.parseExpr();
        this.expectOp(')');
        left = { type: 'between', left, low, high };
      } else if (op === 'matches') {
        if (!this.acceptIdent('regex')) throw new KqlError('expected "regex" after "matches"');
        left = { type: 'regex', left, pattern: this.parseBinary(level + 1) };
      } else if (op.replace(/_cs$/, '') in TEXT_OPERATORS) {
        left = { type: 'text', op, left, right: this.parseBinary(level + 1) };
      } else left = { type: 'binary', op, left, right: this.parseBinary(level + 1) };
    }
  }

  private parsePostfix(): Expr {
    let expr = this.parsePrimary();
    for (;;) {
      if (this.acceptOp('.')) expr = { type: 'member', object: expr, key: this.expectIdent() };
      else if (this.acceptOp('[')) {
        const index = this.parseExpr();
        this.expectOp(']');
        expr = index.type === 'literal' && typeof index.value === 'string' ? { type: 'member', object: expr, key: index.value } : { type: 'index', object: expr, index };
      } else return expr;
    }
  }

  private parsePrimary(): Expr {
    const token = this.next();
    if (token.kind === 'string' || token.kind === 'number') return { type: 'literal', value: token.value! };
    if (token.kind === 'timespan') return { type: 'literal', value: new Timespan(token.value as number) };
    if (token.kind === 'datetime') return { type: 'literal', value: new Date(token.value as number) };
    if (token.kind === 'op' && token.text === '(') {
      const inner = this.parseExpr();
      this.expectOp(')');
      return inner;
    }
    if (token.kind === 'op' && token.text === '-') return { type: 'binary', op: '-', left: { type: 'literal', value: 0 }, right: this.parsePostfix() };
    if (token.kind === 'ident') {
      if (token.text === 'true' || token.text === 'false') return { type: 'literal', value: token.text === 'true' };
      if (this.acceptOp('(')) {
        const args: Expr[] = [];
        let star = false;
        if (this.acceptOp('*')) star = true;
        else if (!this.acceptOp(')')) {
          do {
            if (this.acceptOp('*')) star = true;
            else args.push(this.parseExpr());
          } while (this.acceptOp(','));
          this.expectOp(')');
          return { type: 'call', name: token.text, args, star };
        }
        if (star) this.expectOp(')');
        return { type: 'call', name: token.text, args, star };
      }
      return { type: 'column', name: token.text };
    }
    throw new KqlError(`unexpected "${token.text}"`);
  }

  private peek(): Token | undefined {
    return this.tokens[this.position];
  }
  private next(): Token {
    const token = this.tokens[this.position++];
    if (!token) throw new KqlError('the query ends too early');
    return token;
  }
  private expect(kind: Token['kind']): Token {
    const token = this.next();
    if (token.kind !== kind) throw new KqlError(`expected a ${kind}, found "${token.text}"`);
    return token;
  }
  private expectIdent(): string {
    return this.expect('ident').text;
  }
  private expectOp(op: string): void {
    const token = this.next();
    if (token.text !== op) throw new KqlError(`expected "${op}", found "${token.text}"`);
  }
  private acceptOp(op: string): boolean {
    const token = this.peek();
    if (token?.kind === 'op' && token.text === op) {
      this.position++;
      return true;
    }
    return false;
  }
  private acceptIdent(word: string): boolean {
    const token = this.peek();
    if (token?.kind === 'ident' && token.text === word) {
      this.position++;
      return true;
    }
    return false;
  }
}

export function parseKql(text: string): Query {
  return new Parser(tokenize(text)).parseQuery();
}

// ---- evaluation -------------------------------------------------------------------------------------------------

const AGGREGATES = new Set(['count', 'countif', 'sum', 'sumif', 'max', 'min', 'avg', 'dcount', 'arg_max']);

const FUNCTIONS: Record<string, (args: KqlValue[], options: KqlOptions) => KqlValue> = {
  tostring: ([value]) => (value === null || value === undefined ? '' : value instanceof Date ? value.toISOString() : typeof value === 'object' && !(value instanceof Timespan) ? JSON.stringify(value) : String(value instanceof Timespan ? value.ms : value)),
  todouble: ([value]) => toNumber(value),
  toreal: ([value]) => toNumber(value),
  tolong: ([value]) => (toNumber(value) === null ? null : Math.trunc(toNumber(value)!)),
  toint: ([value]) => (toNumber(value) === null ? null : Math.trunc(toNumber(value)!)),
  parse_json: ([value]) => parseJson(value),
  todynamic: ([value]) => parseJson(value),
  isempty: ([value]) => value === null || value === '',
  isnotempty: ([value]) => !(value === null || value === ''),
  isnull: ([value]) => value === null,
  isnotnull: ([value]) => value !== null,
  now: (_, options) => nowOf(options),
  ago: ([span], options) => new Date(nowOf(options).getTime() - asTimespan(span).ms),
  tolower: ([value]) => (typeof value === 'string' ? value.toLowerCase() : (value ?? null)),
  startofday: ([value]) => {
    const date = asDate(value);
    return date === null ? null : new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  },
  bin: ([value, size]) => {
    if (value instanceof Date) return new Date(Math.floor(value.getTime() / asTimespan(size).ms) * asTimespan(size).ms);
    const number = toNumber(value);
    return number === null ? null : Math.floor(number / (toNumber(size) ?? 1)) * (toNumber(size) ?? 1);
  },
  coalesce: (args) => args.find((arg) => arg !== null && arg !== '') ?? null,
  not: ([value]) => (value === null ? null : value !== true),
  iff: ([condition, then, otherwise]) => (condition === true ? then! : otherwise!),
  strcat: (args) => args.map((arg) => FUNCTIONS.tostring!([arg], { now: new Date() })).join(''),
  round: ([value, digits]) => {
    const number = toNumber(value);
    const factor = 10 ** (toNumber(digits ?? 0) ?? 0);
    return number === null ? null : Math.round(number * factor) / factor;
  },
};

function nowOf(options: KqlOptions): Date {
  if (options.now === undefined) throw new KqlError('now() and ago() need the time the query runs at (options.now)');
  return options.now;
}

const regexes = new Map<string, RE2JS>();
function regexOf(pattern: string): RE2JS {
  let regex = regexes.get(pattern);
  if (regex === undefined) {
    regex = RE2JS.compile(pattern);
    regexes.set(pattern, regex);
  }
  return regex;
}

function toNumber(value: KqlValue | undefined): number | null {
  if (value === null || value === undefined || value === '') return null;
  if (typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string') return Number.isFinite(Number(value)) ? Number(value) : null;
  return null;
}

function parseJson(value: KqlValue | undefined): KqlValue {
  if (typeof value !== 'string') return value ?? null;
  try {
    return JSON.parse(value) as KqlValue;
  } catch {
    return null;
  }
}

function asTimespan(value: KqlValue | undefined): Timespan {
  if (value instanceof Timespan) return value;
  throw new KqlError(`expected a timespan, got ${JSON.stringify(value)}`);
}

function asDate(value: KqlValue | undefined): Date | null {
  if (value instanceof Date) return value;
  if (value === null || value === undefined) return null;
  throw new KqlError(`expected a datetime, got ${JSON.stringify(value)}`);
}

function compare(a: KqlValue, b: KqlValue): number | null {
  if (a === null || b === null) return null;
  if (a instanceof Date && b instanceof Date) return a.getTime() - b.getTime();
  if (a instanceof Timespan && b instanceof Timespan) return a.ms - b.ms;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  throw new KqlError(`cannot compare ${JSON.stringify(a)} with ${JSON.stringify(b)}`);
}

function equal(a: KqlValue, b: KqlValue): boolean | null {
  const order = compare(a, b);
  return order === null ? null : order === 0;
}

function arithmetic(op: string, a: KqlValue, b: KqlValue): KqlValue {
  if (a === null || b === null) return null;
  if (a instanceof Date && b instanceof Timespan) return new Date(a.getTime() + (op === '-' ? -b.ms : b.ms));
  if (a instanceof Date && b instanceof Date && op === '-') return new Timespan(a.getTime() - b.getTime());
  if (typeof a !== 'number' || typeof b !== 'number') throw new KqlError(`cannot ${op} ${JSON.stringify(a)} and ${JSON.stringify(b)}`);
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    default:
      return b === 0 ? null : a / b;
  }
}

class Evaluator {
  constructor(private readonly options: KqlOptions) {}

  scalar(expr: Expr, row: KqlRow): KqlValue {
    switch (expr.type) {
      case 'literal':
        return expr.value;
      case 'column':
        if (!(expr.name in row)) throw new KqlError(`unknown column "${expr.name}" (columns: ${Object.keys(row).join(', ')})`);
        return row[expr.name]!;
      case 'member': {
        const object = this.scalar(expr.object, row);
        if (object === null || typeof object !== 'object' || Array.isArray(object) || object instanceof Date || object instanceof Timespan) return null;
        return object[expr.key] ?? null;
      }
      case 'index': {
        const object = this.scalar(expr.object, row);
        const index = toNumber(this.scalar(expr.index, row));
        return Array.isArray(object) && index !== null ? (object[index] ?? null) : null;
      }
      case 'call': {
        if (AGGREGATES.has(expr.name)) throw new KqlError(`${expr.name}() is an aggregate: only in summarize`);
        const fn = FUNCTIONS[expr.name];
        if (!fn) throw new KqlError(`unsupported function ${expr.name}()`);
        return fn(
          expr.args.map((arg) => this.scalar(arg, row)),
          this.options,
        );
      }
      case 'in': {
        const value = this.scalar(expr.left, row);
        const found = expr.list.some((item) => equal(value, this.scalar(item, row)) === true);
        return expr.negated ? !found : found;
      }
      case 'between': {
        const value = this.scalar(expr.left, row);
        const low = compare(value, this.scalar(expr.low, row));
        const high = compare(value, this.scalar(expr.high, row));
        return low === null || high === null ? null : low >= 0 && high <= 0;
      }
      case 'text': {
        const caseSensitive = expr.op.endsWith('_cs');
        const text = textOf(this.scalar(expr.left, row));
        const part = textOf(this.scalar(expr.right, row));
        return TEXT_OPERATORS[expr.op.replace(/_cs$/, '')]!(caseSensitive ? text : text.toLowerCase(), caseSensitive ? part : part.toLowerCase());
      }
      case 'regex':
        return regexOf(textOf(this.scalar(expr.pattern, row))).test(textOf(this.scalar(expr.left, row)));
      case 'binary': {
        if (expr.op === 'and') return this.scalar(expr.left, row) === true && this.scalar(expr.right, row) === true;
        if (expr.op === 'or') return this.scalar(expr.left, row) === true || this.scalar(expr.right, row) === true;
        const left = this.scalar(expr.left, row);
        const right = this.scalar(expr.right, row);
        switch (expr.op) {
          case '==':
            return equal(left, right);
          case '!=': {
            const same = equal(left, right);
            return same === null ? null : !same;
          }
          case '=~':
            return typeof left === 'string' && typeof right === 'string' ? left.toLowerCase() === right.toLowerCase() : equal(left, right);
          case '<':
          case '<=':
          case '>':
          case '>=': {
            const order = compare(left, right);
            if (order === null) return null;
            return expr.op === '<' ? order < 0 : expr.op === '<=' ? order <= 0 : expr.op === '>' ? order > 0 : order >= 0;
          }
          default:
            return arithmetic(expr.op, left, right);
        }
      }
    }
  }

  aggregate(expr: Expr, rows: KqlRow[]): KqlValue | KqlRow {
    if (expr.type !== 'call' || !AGGREGATES.has(expr.name)) throw new KqlError('summarize takes aggregates such as count(), sum(x), max(x)');
    const values = () => rows.map((row) => this.scalar(expr.args[0]!, row));
    const numbers = () => values().map(toNumber).filter((value): value is number => value !== null);
    switch (expr.name) {
      case 'count':
        return rows.length;
      case 'countif':
        return rows.filter((row) => this.scalar(expr.args[0]!, row) === true).length;
      case 'sum':
        return numbers().reduce((sum, value) => sum + value, 0);
      case 'sumif':
        return rows.filter((row) => this.scalar(expr.args[1]!, row) === true).reduce((sum, row) => sum + (toNumber(this.scalar(expr.args[0]!, row)) ?? 0), 0);
      case 'avg': {
        const list = numbers();
        return list.length === 0 ? null : list.reduce((sum, value) => sum + value, 0) / list.length;
      }
      case 'dcount':
        return new Set(values().map((value) => JSON.stringify(value))).size;
      case 'max':
      case 'min': {
        const list = values().filter((value) => value !== null);
        if (list.length === 0) return null;
        return list.reduce((best, value) => ((compare(value, best) ?? 0) * (expr.name === 'max' ? 1 : -1) > 0 ? value : best));
      }
      case 'arg_max': {
        let best: KqlRow | undefined;
        for (const row of rows) if (best === undefined || (compare(this.scalar(expr.args[0]!, row), this.scalar(expr.args[0]!, best)) ?? 0) > 0) best = row;
        if (best === undefined) return {};
        if (expr.star) return { ...best };
        const picked: KqlRow = {};
        for (const arg of expr.args) picked[columnName(arg)] = this.scalar(arg, best);
        return picked;
      }
      default:
        throw new KqlError(`unsupported aggregate ${expr.name}()`);
    }
  }
}

function textOf(value: KqlValue): string {
  return value === null ? '' : FUNCTIONS.tostring!([value], {}) as string;
}

function columnName(expr: Expr): string {
  if (expr.type === 'column') return expr.name;
  if (expr.type === 'member') return `${columnName(expr.object)}_${expr.key}`;
  if (expr.type === 'call' && expr.args.length > 0) return `${expr.name}_${columnName(expr.args[0]!)}`;
  if (expr.type === 'call') return `${expr.name}_`;
  throw new KqlError('name this column (name = expression)');
}

/** Reads of `bag.key` on the tables' bag columns must name keys that the tables' schema has. */
function checkBagKeys(query: Query, bagKeys: Map<string, Set<string>>): void {
  const visit = (expr: Expr): void => {
    switch (expr.type) {
      case 'member': {
        const known = expr.object.type === 'column' ? bagKeys.get(expr.object.name) : undefined;
        if (expr.object.type === 'column' && known && !known.has(expr.key)) {
          throw new KqlError(`${expr.object.name}.${expr.key} is never emitted (known: ${[...known].sort().join(', ')})`);
        }
        visit(expr.object);
        return;
      }
      case 'index':
        visit(expr.object);
        visit(expr.index);
        return;
      case 'call':
        expr.args.forEach(visit);
        return;
      case 'binary':
      case 'text':
        visit(expr.left);
        visit(expr.right);
        return;
      case 'in':
        visit(expr.left);
        expr.list.forEach(visit);
        return;
      case 'between':
        [expr.left, expr.low, expr.high].forEach(visit);
        return;
      case 'regex':
        visit(expr.left);
        visit(expr.pattern);
        return;
      default:
        return;
    }
  };
  const pipelines = (pipeline: Pipeline): Pipeline[] => [
    pipeline,
    ...('pipeline' in pipeline.source ? pipelines(pipeline.source.pipeline) : []),
    ...pipeline.operators.flatMap((operator) => (operator.kind === 'union' ? pipelines(operator.other) : [])),
  ];
  for (const pipeline of [...query.lets.map(([, each]) => each), query.body].flatMap(pipelines)) {
    for (const operator of pipeline.operators) {
      if (operator.kind === 'where') visit(operator.predicate);
      if (operator.kind === 'extend' || operator.kind === 'project') operator.assignments.forEach((assignment) => visit(assignment.expr));
      if (operator.kind === 'summarize') [...operator.aggregates, ...operator.by].forEach((assignment) => visit(assignment.expr));
      if (operator.kind === 'order') operator.keys.forEach((key) => visit(key.expr));
    }
  }
}

/** A table as the interpreter holds it: rows with exactly its columns. */
interface Relation {
  rows: KqlRow[];
  columns: string[];
}

function relationOf(table: KqlTable | KqlRow[]): Relation {
  const columns = Array.isArray(table) ? [...new Set(table.flatMap((row) => Object.keys(row)))] : table.columns;
  const rows = Array.isArray(table) ? table : table.rows;
  return { columns, rows: rows.map((row) => Object.fromEntries(columns.map((column) => [column, row[column] ?? null]))) };
}

/**
 * Runs `text` over `tables` (by name: a {@link KqlTable}, or plain rows whose keys are the columns) and returns
 * the result's rows.
 */
export function runKql(text: string, tables: Record<string, KqlTable | KqlRow[]>, options: KqlOptions = {}): KqlRow[] {
  const query = parseKql(text);
  const bagKeys = new Map<string, Set<string>>();
  for (const table of Object.values(tables)) {
    for (const [column, keys] of Object.entries(Array.isArray(table) ? {} : (table.bagKeys ?? {}))) bagKeys.set(column, new Set([...(bagKeys.get(column) ?? []), ...keys]));
  }
  checkBagKeys(query, bagKeys);
  const scope = new Map(Object.entries(tables).map(([name, table]) => [name, relationOf(table)]));
  const evaluator = new Evaluator(options);
  for (const [name, pipeline] of query.lets) scope.set(name, evaluate(pipeline, scope, evaluator));
  return evaluate(query.body, scope, evaluator).rows;
}

function evaluate(pipeline: Pipeline, scope: Map<string, Relation>, evaluator: Evaluator): Relation {
  let source: Relation;
  if ('table' in pipeline.source) {
    const found = scope.get(pipeline.source.table);
    if (found === undefined) throw new KqlError(`'${pipeline.source.table}': failed to resolve table (tables: ${[...scope.keys()].join(', ')})`);
    source = found;
  } else source = evaluate(pipeline.source.pipeline, scope, evaluator);
  let { rows, columns } = source;
  const requireColumns = (expr: Expr) => {
    // Evaluate against an empty row of the current columns: catches unknown columns even when no row is left.
    try {
      evaluator.scalar(expr, Object.fromEntries(columns.map((column) => [column, null])));
    } catch (error) {
      if (error instanceof KqlError && /unknown column/.test(error.message)) throw error;
    }
  };
  for (const operator of pipeline.operators) {
    switch (operator.kind) {
      case 'where':
        requireColumns(operator.predicate);
        rows = rows.filter((row) => evaluator.scalar(operator.predicate, row) === true);
        break;
      case 'extend':
      case 'project': {
        const names = operator.assignments.map((assignment) => assignment.name ?? columnName(assignment.expr));
        operator.assignments.forEach((assignment) => requireColumns(assignment.expr));
        rows = rows.map((row) => {
          const values = Object.fromEntries(operator.assignments.map((assignment, index) => [names[index]!, evaluator.scalar(assignment.expr, row)]));
          return operator.kind === 'extend' ? { ...row, ...values } : values;
        });
        columns = operator.kind === 'extend' ? [...new Set([...columns, ...names])] : names;
        break;
      }
      case 'summarize': {
        operator.by.forEach((assignment) => requireColumns(assignment.expr));
        const byNames = operator.by.map((assignment) => assignment.name ?? columnName(assignment.expr));
        const groups = new Map<string, { key: KqlRow; rows: KqlRow[] }>();
        for (const row of rows) {
          const key = Object.fromEntries(operator.by.map((assignment, index) => [byNames[index]!, evaluator.scalar(assignment.expr, row)]));
          const id = JSON.stringify(key);
          const group = groups.get(id) ?? { key, rows: [] };
          group.rows.push(row);
          groups.set(id, group);
        }
        // Without `by`, summarize always answers one row (count() = 0 over nothing).
        if (operator.by.length === 0 && groups.size === 0) groups.set('{}', { key: {}, rows: [] });
        const output: KqlRow[] = [];
        let outputColumns: string[] = [...byNames];
        for (const group of groups.values()) {
          const result: KqlRow = { ...group.key };
          for (const assignment of operator.aggregates) {
            const value = evaluator.aggregate(assignment.expr, group.rows);
            if (assignment.expr.type === 'call' && assignment.expr.name === 'arg_max') Object.assign(result, value);
            else result[assignment.name ?? columnName(assignment.expr)] = value as KqlValue;
          }
          output.push(result);
        }
        for (const assignment of operator.aggregates) {
          if (assignment.expr.type === 'call' && assignment.expr.name === 'arg_max') outputColumns.push(...(assignment.expr.star ? columns : assignment.expr.args.map(columnName)));
          else outputColumns.push(assignment.name ?? columnName(assignment.expr));
        }
        outputColumns = [...new Set(outputColumns)];
        rows = output.map((row) => Object.fromEntries(outputColumns.map((column) => [column, row[column] ?? null])));
        columns = outputColumns;
        break;
      }
      case 'order':
        operator.keys.forEach((key) => requireColumns(key.expr));
        rows = [...rows].sort((a, b) => {
          for (const key of operator.keys) {
            const order = compare(evaluator.scalar(key.expr, a), evaluator.scalar(key.expr, b));
            // KQL puts nulls last in descending order and first in ascending.
            const value = order ?? (evaluator.scalar(key.expr, a) === null ? -1 : 1);
            if (value !== 0) return key.descending ? -value : value;
          }
          return 0;
        });
        break;
      case 'take':
        rows = rows.slice(0, operator.count);
        break;
      case 'union': {
        const other = evaluate(operator.other, scope, evaluator);
        columns = [...new Set([...columns, ...other.columns])];
        rows = [...rows, ...other.rows].map((row) => Object.fromEntries(columns.map((column) => [column, row[column] ?? null])));
        break;
      }
      case 'mv-expand': {
        if (!columns.includes(operator.column)) throw new KqlError(`unknown column "${operator.column}"`);
        rows = rows.flatMap((row) => {
          const value = row[operator.column];
          if (Array.isArray(value)) return value.map((item) => ({ ...row, [operator.column]: item }));
          if (value !== null && typeof value === 'object' && !(value instanceof Date) && !(value instanceof Timespan)) {
            return Object.entries(value).map(([key, item]) => ({ ...row, [operator.column]: [key, item] }));
          }
          return [row];
        });
        break;
      }
    }
  }
  return { rows, columns };
}
