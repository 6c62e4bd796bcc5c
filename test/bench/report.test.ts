/**
 * The bench's report (bench/report.ts) draws what the suites measured: a
 * bar for each peer ratio and each target, none for a ratio not measured,
 * a line at 1×, labels escaped, as one SVG that parses as XML-like text
 * with balanced tags.
 */
import { expect, it } from 'vitest';
import { renderReport, reportGroups } from '../../bench/report.js';

const PEERS = {
  suite: 'peers',
  peerRatios: { batch: { sqlite_full: 2.5, hypercore: 13.4 }, single: { sqlite_full: 0.53, limit: Number.NaN } },
};
const JOURNAL = { suite: 'journal', targets: { 'fanlog_batch/raw_batch': { ratio: 0.93, target: 0.85 } } };

it('takes a group per case of peer ratios and one per suite of targets, leaving out ratios not measured', () => {
  expect(reportGroups([PEERS, JOURNAL, { suite: 'mirror' }])).toEqual([
    {
      label: 'peers: batch',
      bars: [
        { label: 'sqlite_full', ratio: 2.5 },
        { label: 'hypercore', ratio: 13.4 },
      ],
    },
    { label: 'peers: single', bars: [{ label: 'sqlite_full', ratio: 0.53 }] },
    { label: 'journal: targets', bars: [{ label: 'fanlog_batch/raw_batch', ratio: 0.93 }] },
  ]);
});

it('draws one bar per ratio on a log axis with a line at 1x, and escapes the labels', () => {
  const svg = renderReport('a <title> & more', reportGroups([PEERS, JOURNAL]));
  expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  expect(svg.match(/<rect /g)).toHaveLength(1 + 4); // the background, then one bar per ratio
  expect(svg).toContain('a &lt;title&gt; &amp; more');
  expect(svg).toContain('>13×<');
  expect(svg).toContain('>0.53×<');
  // The 1× line is the one drawn black; a bar below 1× ends on it, one above starts on it.
  const one = /<line x1="([\d.]+)"[^>]*stroke="#000"/.exec(svg)![1];
  const bars = [...svg.matchAll(/<rect x="([\d.]+)" y="\d+" width="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])] as const);
  for (const [x, width] of bars) expect(x === Number(one) || Math.abs(x + width - Number(one)) < 0.2).toBe(true);
  expect(svg.match(/<svg/g)).toHaveLength(1);
  expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
});
