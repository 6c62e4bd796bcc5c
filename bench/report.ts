/**
 * `npm run bench -- SUITE... --report FILE.svg`: draws the ratios the suites
 * measured as one self-contained SVG, written by hand (no dependency): per
 * case, a bar for fanlog's rate over each peer's (the peers suite's
 * `peerRatios`) or for each target ratio (any suite's `targets`), on a
 * logarithmic axis with a line at 1× (left of it, fanlog is slower).
 */

interface Bar {
  label: string;
  ratio: number;
}
interface Group {
  label: string;
  bars: Bar[];
}

const COLOURS: Record<string, string> = {
  sqlite_full: '#1f77b4',
  sqlite_normal: '#6baed6',
  hypercore: '#2ca02c',
  limit: '#7f7f7f',
};

/** The groups of bars in the suites' results: `peerRatios` by case and peer, and `targets` by `a/b`. */
export function reportGroups(results: readonly Record<string, unknown>[]): Group[] {
  const groups: Group[] = [];
  for (const result of results) {
    const peerRatios = result.peerRatios as Record<string, Record<string, number>> | undefined;
    for (const [kase, byPeer] of Object.entries(peerRatios ?? {})) {
      groups.push({ label: `${String(result.suite)}: ${kase}`, bars: Object.entries(byPeer).map(([peer, ratio]) => ({ label: peer, ratio })) });
    }
    const targets = result.targets as Record<string, { ratio: number }> | undefined;
    const bars = Object.entries(targets ?? {}).map(([name, { ratio }]) => ({ label: name, ratio }));
    if (bars.length > 0) groups.push({ label: `${String(result.suite)}: targets`, bars });
  }
  return groups
    .map((group) => ({ ...group, bars: group.bars.filter((bar) => Number.isFinite(bar.ratio) && bar.ratio > 0) }))
    .filter((group) => group.bars.length > 0);
}

const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The SVG of `groups`, titled `title`. */
export function renderReport(title: string, groups: readonly Group[]): string {
  const barHeight = 16;
  const gap = 4;
  const left = 260;
  const plotWidth = 520;
  const top = 48;
  const ratios = groups.flatMap((group) => group.bars.map((bar) => bar.ratio));
  // Whole decades around every ratio and 1×, so the axis reads in 0.1×, 1×, 10×, 100×.
  const lowDecade = Math.floor(Math.log10(Math.min(1, ...ratios)));
  const highDecade = Math.max(lowDecade + 1, Math.ceil(Math.log10(Math.max(1, ...ratios))));
  const x = (ratio: number): number => left + ((Math.log10(ratio) - lowDecade) / (highDecade - lowDecade)) * plotWidth;
  const parts: string[] = [];
  let y = top;
  for (const group of groups) {
    parts.push(`<text x="8" y="${y + 12}" font-weight="bold">${escape(group.label)}</text>`);
    y += barHeight + gap;
    for (const bar of group.bars) {
      const colour = COLOURS[bar.label] ?? '#9467bd';
      const from = x(Math.min(1, bar.ratio));
      const to = x(Math.max(1, bar.ratio));
      parts.push(`<text x="${left - 8}" y="${y + 12}" text-anchor="end">fanlog / ${escape(bar.label)}</text>`);
      parts.push(`<rect x="${from.toFixed(1)}" y="${y}" width="${Math.max(1, to - from).toFixed(1)}" height="${barHeight}" fill="${colour}"/>`);
      parts.push(`<text x="${(to + 4).toFixed(1)}" y="${y + 12}">${bar.ratio >= 10 ? bar.ratio.toFixed(0) : bar.ratio.toFixed(2)}×</text>`);
      y += barHeight + gap;
    }
    y += gap * 2;
  }
  const height = y + 24;
  const axis: string[] = [];
  for (let decade = lowDecade; decade <= highDecade; decade++) {
    const at = x(10 ** decade).toFixed(1);
    const label = decade < 0 ? (10 ** decade).toFixed(-decade) : String(10 ** decade);
    axis.push(`<line x1="${at}" y1="${top - 6}" x2="${at}" y2="${y}" stroke="${decade === 0 ? '#000' : '#ddd'}" stroke-width="${decade === 0 ? 1.5 : 1}"/>`);
    axis.push(`<text x="${at}" y="${y + 16}" text-anchor="middle">${label}×</text>`);
  }
  const width = left + plotWidth + 70;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="8" y="20" font-size="14" font-weight="bold">${escape(title)}</text>`,
    `<text x="8" y="36" fill="#555">fanlog's records/s over each peer's, median of per-round ratios; log scale, the black line is 1×</text>`,
    ...axis,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
