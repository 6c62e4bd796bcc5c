/**
 * `node dist/bench/cpu-top.js FILE.cpuprofile... [N]`: the N functions
 * (default 10) with the most self time in V8 CPU profiles (`node
 * --cpu-prof`; several files are summed: the bench runs each suite in a
 * child process, which writes its own), with their share of the sampled
 * time and their source location: the table a closing note quotes before
 * and after an optimisation.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const files = args.filter((arg) => arg.endsWith('.cpuprofile'));
const countText = args.find((arg) => !arg.endsWith('.cpuprofile'));
if (files.length === 0 || (countText !== undefined && !/^\d+$/.test(countText))) {
  process.stderr.write('usage: node dist/bench/cpu-top.js FILE.cpuprofile... [N]\n');
  process.exit(2);
}
const selfUs = new Map<string, number>();
let totalUs = 0;
for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id)!.callFrame;
    const where = frame.url === '' ? '' : `${frame.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${frame.lineNumber + 1}`;
    const key = `${frame.functionName || '(anonymous)'} ${where}`.trim();
    const delta = profile.timeDeltas[i] ?? 0;
    selfUs.set(key, (selfUs.get(key) ?? 0) + delta);
    totalUs += delta;
  });
}
const top = [...selfUs].sort((a, b) => b[1] - a[1]).slice(0, Number(countText ?? 10));
process.stdout.write(`| self ms | share | function |\n|---:|---:|---|\n`);
for (const [key, us] of top) process.stdout.write(`| ${(us / 1000).toFixed(0)} | ${((100 * us) / totalUs).toFixed(1)} % | \`${key}\` |\n`);
process.stdout.write(`\n${(totalUs / 1000).toFixed(0)} ms sampled\n`);
