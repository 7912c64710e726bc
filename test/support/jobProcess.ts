/**
 * One cleanup job in its own process, with the settings in the environment as the Functions host gives them, for
 * tests that kill it at random moments. `tsx test/support/jobProcess.ts INVOCATION_ID`; prints the result as JSON.
 */
import { runCleanupJob } from '../../src/job.js';

const invocationId = process.argv[2] ?? 'child';
const result = await runCleanupJob(process.env, { invocationId, trigger: 'timer', log: (message) => process.stderr.write(`${message}\n`) }, { leaseSeconds: 15 });
process.stdout.write(`${JSON.stringify({ outcome: result.outcome, message: result.message, reportName: result.reportName })}\n`);
