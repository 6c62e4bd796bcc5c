#!/usr/bin/env node
// Captures what real fanotify reports for script.json and writes
// fixture.json, the kernel side of the differential event test
// (events-kernel.test.ts). Needs root (it mounts a private tmpfs) and a C
// compiler (Debian's gcc); the test itself needs neither.
//
//   node test/fanotify/capture.mjs            # rewrites test/fanotify/fixture.json
//
// The fixture keeps its "deviations" (the differences fanlog keeps on
// purpose, each with its reason): they are carried over from the file
// being replaced.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const script = JSON.parse(readFileSync(path.join(here, 'script.json'), 'utf8'));
const fixtureFile = path.join(here, 'fixture.json');
const previous = existsSync(fixtureFile) ? JSON.parse(readFileSync(fixtureFile, 'utf8')) : { deviations: [] };

// The notification events fanotify reports (low 32 bits), and the mark flags.
const BITS = {
  FAN_ACCESS: 0x1,
  FAN_MODIFY: 0x2,
  FAN_ATTRIB: 0x4,
  FAN_CLOSE_WRITE: 0x8,
  FAN_CLOSE_NOWRITE: 0x10,
  FAN_OPEN: 0x20,
  FAN_MOVED_FROM: 0x40,
  FAN_MOVED_TO: 0x80,
  FAN_CREATE: 0x100,
  FAN_DELETE: 0x200,
  FAN_DELETE_SELF: 0x400,
  FAN_MOVE_SELF: 0x800,
  FAN_OPEN_EXEC: 0x1000,
  FAN_RENAME: 0x10000000,
  FAN_EVENT_ON_CHILD: 0x8000000,
  FAN_ONDIR: 0x40000000,
};
const ALL = Object.entries(BITS)
  .filter(([name]) => name !== 'FAN_EVENT_ON_CHILD' && name !== 'FAN_ONDIR')
  .reduce((mask, [, bit]) => mask | bit, 0);
// The events about an object itself: all an inode mark on a non-directory may ask for.
const OBJECT = [
  'FAN_ACCESS',
  'FAN_MODIFY',
  'FAN_ATTRIB',
  'FAN_CLOSE_WRITE',
  'FAN_CLOSE_NOWRITE',
  'FAN_OPEN',
  'FAN_DELETE_SELF',
  'FAN_MOVE_SELF',
  'FAN_OPEN_EXEC',
].reduce((mask, name) => mask | BITS[name], 0);
const maskOf = (names) => names.reduce((mask, name) => (mask | (name === 'ALL' ? ALL : name === 'OBJECT' ? OBJECT : BITS[name])) >>> 0, 0);

const work = mkdtempSync(path.join(tmpdir(), 'fanlog-capture-'));
const mount = path.join(work, 'root');
mkdirSync(mount);
execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mount]);
try {
  const binary = path.join(work, 'capture');
  execFileSync('gcc', ['-O1', '-Wall', '-o', binary, path.join(here, 'capture.c')], { stdio: 'inherit' });
  const lines = [
    ...script.setup.map((call) => `setup ${call.join(' ')}`),
    ...script.groups.map((group) => `group ${group.name} ${group.kind} ${group.path} ${maskOf(group.mask).toString(16)}`),
    ...script.steps.map((call, index) => `step ${index} ${call.join(' ')}`),
  ];
  const run = spawnSync(binary, [mount], { input: `${lines.join('\n')}\n`, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`capture failed (${run.status}): ${run.stderr}`);
  const steps = run.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  const fixture = {
    about:
      'What real fanotify reported for script.json: per step, per group, the union of the event masks (low 32 bits) and the names in the events\' info records. Written by capture.mjs; "deviations" are kept by hand.',
    kernel: release(),
    capturedAt: new Date().toISOString().slice(0, 10),
    steps: steps.map(({ step, groups }) => ({ step, call: script.steps[step], groups })),
    deviations: previous.deviations ?? [],
  };
  writeFileSync(fixtureFile, `${JSON.stringify(fixture, null, 2)}\n`);
  process.stdout.write(`wrote ${fixtureFile}: ${steps.length} steps, kernel ${fixture.kernel}\n`);
} finally {
  execFileSync('umount', [mount]);
  rmSync(work, { recursive: true, force: true });
}
