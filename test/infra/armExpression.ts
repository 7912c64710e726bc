/**
 * Evaluates the ARM template language expressions ("[if(empty(parameters('x')), …)]") that decide a
 * deployment before any resource exists: parameters, variables and the pure functions the compiled template
 * uses. `if` is lazy, as ARM documents it (only the chosen branch is evaluated), and `fail` throws the message
 * ARM would report. An unknown function throws, so a template that needs more is a failing test, not a guess.
 */

export class ArmFail extends Error {}

type Value = unknown;
type Node = { kind: 'literal'; value: Value } | { kind: 'call'; name: string; args: Node[] } | { kind: 'property'; target: Node; name: string } | { kind: 'index'; target: Node; index: Node };

export interface ArmScope {
  parameters: Record<string, Value>;
  variables: Record<string, Value>;
  resourceGroup: { name: string; location: string; id: string };
  environment: { name: string };
}

export function isExpression(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith('[') && !value.startsWith('[[') && value.endsWith(']');
}

/** Evaluates a template value: an expression string, or a literal (objects and arrays element by element). */
export function evaluate(value: Value, scope: ArmScope): Value {
  if (isExpression(value)) return evaluateNode(parse(value.slice(1, -1)), scope);
  if (Array.isArray(value)) return value.map((item) => evaluate(item, scope));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, evaluate(item, scope)]));
  return value;
}

function parse(text: string): Node {
  let position = 0;
  const skipSpace = () => {
    while (/\s/.test(text[position] ?? '')) position++;
  };
  const expect = (char: string) => {
    skipSpace();
    if (text[position] !== char) throw new Error(`expected '${char}' at ${position} in ${text}`);
    position++;
  };
  const primary = (): Node => {
    skipSpace();
    const char = text[position];
    if (char === "'") {
      let value = '';
      position++;
      for (;;) {
        if (position >= text.length) throw new Error(`unterminated string in ${text}`);
        if (text[position] === "'") {
          if (text[position + 1] === "'") {
            value += "'";
            position += 2;
            continue;
          }
          position++;
          return { kind: 'literal', value };
        }
        value += text[position++];
      }
    }
    const number = /^-?\d+/.exec(text.slice(position));
    if (number) {
      position += number[0].length;
      return { kind: 'literal', value: Number(number[0]) };
    }
    const name = /^[A-Za-z_][\w.]*/.exec(text.slice(position));
    if (!name) throw new Error(`unexpected '${char}' at ${position} in ${text}`);
    position += name[0].length;
    expect('(');
    const args: Node[] = [];
    skipSpace();
    if (text[position] === ')') position++;
    else {
      for (;;) {
        args.push(postfix());
        skipSpace();
        if (text[position] === ',') {
          position++;
          continue;
        }
        expect(')');
        break;
      }
    }
    return { kind: 'call', name: name[0], args };
  };
  const postfix = (): Node => {
    let node = primary();
    for (;;) {
      skipSpace();
      if (text[position] === '.') {
        position++;
        const name = /^[A-Za-z_]\w*/.exec(text.slice(position))![0];
        position += name.length;
        node = { kind: 'property', target: node, name };
      } else if (text[position] === '[') {
        position++;
        const index = postfix();
        expect(']');
        node = { kind: 'index', target: node, index };
      } else return node;
    }
  };
  const node = postfix();
  skipSpace();
  if (position !== text.length) throw new Error(`trailing text at ${position} in ${text}`);
  return node;
}

function evaluateNode(node: Node, scope: ArmScope): Value {
  switch (node.kind) {
    case 'literal':
      return node.value;
    case 'property':
      return (evaluateNode(node.target, scope) as Record<string, Value>)[node.name];
    case 'index':
      return (evaluateNode(node.target, scope) as Record<string, Value>)[String(evaluateNode(node.index, scope))];
    case 'call':
      return call(node, scope);
  }
}

function call(node: Extract<Node, { kind: 'call' }>, scope: ArmScope): Value {
  const arg = (index: number) => evaluateNode(node.args[index]!, scope);
  const args = () => node.args.map((argument) => evaluateNode(argument, scope));
  switch (node.name.toLowerCase()) {
    case 'if':
      return arg(0) === true ? arg(1) : arg(2);
    case 'fail':
      throw new ArmFail(String(arg(0)));
    case 'parameters': {
      const name = String(arg(0));
      if (!(name in scope.parameters)) throw new Error(`parameter ${name} has no value in this test`);
      return scope.parameters[name];
    }
    case 'variables':
      return evaluate(scope.variables[String(arg(0))], scope);
    case 'equals':
      return JSON.stringify(arg(0)) === JSON.stringify(arg(1));
    case 'not':
      return !arg(0);
    case 'and':
      return node.args.every((argument) => evaluateNode(argument, scope) === true);
    case 'or':
      return node.args.some((argument) => evaluateNode(argument, scope) === true);
    case 'empty': {
      const value = arg(0);
      return value === null || value === undefined || value === '' || (Array.isArray(value) && value.length === 0) || (typeof value === 'object' && Object.keys(value as object).length === 0);
    }
    case 'format': {
      const [template, ...values] = args();
      return String(template).replace(/\{(\d+)\}/g, (_, index: string) => String(values[Number(index)]));
    }
    case 'concat':
      return args().map(String).join('');
    case 'tolower':
      return String(arg(0)).toLowerCase();
    case 'resourcegroup':
      return scope.resourceGroup;
    case 'environment':
      return scope.environment;
    case 'true':
      return true;
    case 'false':
      return false;
    default:
      throw new Error(`the test's ARM evaluator does not know ${node.name}(): extend it, or keep the template simpler`);
  }
}
