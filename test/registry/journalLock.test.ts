import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JournalLock } from '../../src/cliFiles.js';

const deadPid = () => Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }));

describe('the journal lock', () => {
  it('lets exactly one of several runs take over the lock of a dead run at the same moment', async () => {
    const dead = deadPid();
    for (let round = 0; round < 20; round++) {
      const journal = join(await mkdtemp(join(tmpdir(), 'journal-lock-')), 'journal.jsonl');
      await writeFile(`${journal}.lock`, JSON.stringify({ pid: dead, hostname: hostname(), startedAt: new Date().toISOString() }));
      const notes: string[] = [];
      const attempts = await Promise.allSettled([1, 2, 3].map(() => JournalLock.acquire(journal, (note) => notes.push(note))));
      const held = attempts.filter((attempt) => attempt.status === 'fulfilled');
      expect(held).toHaveLength(1);
      expect(attempts.filter((attempt) => attempt.status === 'rejected').map((attempt) => String((attempt as PromiseRejectedResult).reason))).toEqual(
        Array(2).fill(expect.stringContaining(`--journal: ${journal} is in use by another run`)),
      );
      expect(JSON.parse(await readFile(`${journal}.lock`, 'utf8'))).toMatchObject({ pid: process.pid });
      expect(notes.filter((note) => note.includes(`process ${dead}`)).length).toBeGreaterThanOrEqual(1);
    }
  });

  it('never removes the lock of a run that took over first, however late the slower contender moves', async () => {
    const journal = join(await mkdtemp(join(tmpdir(), 'journal-lock-')), 'journal.jsonl');
    await writeFile(`${journal}.lock`, JSON.stringify({ pid: deadPid(), hostname: hostname(), startedAt: new Date().toISOString() }));
    let first: JournalLock | undefined;
    // The slower run has read the dead run's lock twice; the faster one takes it over before the slower one acts.
    const slower = JournalLock.acquire(journal, () => {}, async () => {
      first ??= await JournalLock.acquire(journal, () => {});
    });
    await expect(slower).rejects.toThrow(`--journal: ${journal} is in use by another run (process ${process.pid}`);
    expect(first).toBeDefined();
    await first!.release();
    await expect(readFile(`${journal}.lock`, 'utf8')).rejects.toThrow('ENOENT');
  });

  it('lets one run hold the lock when a late contender resumes its takeover while a third one starts', async () => {
    for (let round = 0; round < 50; round++) {
      const journal = join(await mkdtemp(join(tmpdir(), 'journal-lock-')), 'journal.jsonl');
      await writeFile(`${journal}.lock`, JSON.stringify({ pid: deadPid(), hostname: hostname(), startedAt: new Date().toISOString() }));
      let resumeLate!: () => void;
      const lateMayGoOn = new Promise<void>((resolve) => (resumeLate = resolve));
      let lateReadTheDeadLock!: () => void;
      const lateAtTakeover = new Promise<void>((resolve) => (lateReadTheDeadLock = resolve));
      const late = JournalLock.acquire(journal, () => {}, async () => {
        lateReadTheDeadLock();
        await lateMayGoOn;
      }).catch((error: unknown) => error);
      await lateAtTakeover;
      const first = await JournalLock.acquire(journal, () => {});
      resumeLate();
      const third = await JournalLock.acquire(journal, () => {}).catch((error: unknown) => error);
      const holders = [first, third, await late].filter((attempt) => attempt instanceof JournalLock);
      expect(holders, `round ${round}`).toHaveLength(1);
      for (const holder of holders) await holder.release();
    }
  });

  it('says so when its lock path is a folder, instead of blaming another run', async () => {
    const journal = join(await mkdtemp(join(tmpdir(), 'journal-lock-')), 'journal.jsonl');
    await mkdir(`${journal}.lock`);
    await expect(JournalLock.acquire(journal, () => {})).rejects.toThrow(`--journal: its lock ${journal}.lock is not a regular file (a folder)`);
  });

  it('refuses a lock file it did not write, naming the file to delete', async () => {
    const journal = join(await mkdtemp(join(tmpdir(), 'journal-lock-')), 'journal.jsonl');
    await writeFile(`${journal}.lock`, 'garbage');
    await expect(JournalLock.acquire(journal, () => {})).rejects.toThrow(`a lock file this tool did not write); one run per journal. If no such run is alive, delete ${journal}.lock`);
  });
});
