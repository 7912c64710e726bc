import { afterEach, describe, expect, it } from 'vitest';
import { RunBudget, withRequestTimeout } from '../../src/registry/budget.js';
import { sleep } from '../../src/registry/retry.js';

const warnings: Error[] = [];
const onWarning = (warning: Error) => warnings.push(warning);
afterEach(() => {
  process.off('warning', onWarning);
  warnings.splice(0);
});

describe('the signal a run waits on', () => {
  it('takes as many waiting workers as the run has, without a listener-leak warning', async () => {
    process.on('warning', onWarning);
    const phase = new RunBudget(Date.now() + 60_000, 5_000).deadlineSignal();
    await Promise.all(Array.from({ length: 40 }, (_, worker) => (worker % 2 === 0 ? sleep(20, phase.signal) : withRequestTimeout(1_000, phase.signal, () => sleep(20)))));
    await new Promise((resolve) => setImmediate(resolve));
    phase.dispose();
    expect(warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning')).toEqual([]);
  });
});
