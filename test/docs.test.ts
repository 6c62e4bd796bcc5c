/**
 * The documentation holds together: every relative link in README.md and in
 * every Markdown file under docs/ (docs/api included, which TypeDoc writes)
 * names a file that exists, and every `#anchor` names a heading of the page
 * it points into, made into an anchor as GitHub makes it. A page moved or a
 * heading renamed without its links fails here, naming the page and the
 * link. docs/README.md lists every guide, each guide opens with whom it is
 * for, and the README stays a front door (at most 400 lines, as issue 27
 * asks), so that a guide added or the README grown back fails here too.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Every Markdown file under `dir`, relative to the root. */
function markdownUnder(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir)).flatMap((name) => {
    const relative = path.posix.join(dir, name);
    if (statSync(path.join(ROOT, relative)).isDirectory()) return markdownUnder(relative);
    return name.endsWith('.md') ? [relative] : [];
  });
}

const PAGES = ['README.md', ...markdownUnder('docs')];

/** A page's lines outside fenced code blocks: links and headings in code are not links or headings. */
function proseLines(text: string): string[] {
  let fenced = false;
  return text.split('\n').filter((line) => {
    if (/^\s*```/.test(line)) {
      fenced = !fenced;
      return false;
    }
    return !fenced;
  });
}

/** A line with its inline code spans blanked out, so that a `](` inside one is no link. */
function withoutCodeSpans(line: string): string {
  return line.replace(/(`+)([\s\S]*?[^`])\1(?!`)/g, ' ');
}

/** Brackets an escaped character's index while the markup is stripped: a character no heading holds. */
const MARK = String.fromCharCode(0);

/**
 * The anchor GitHub gives a heading (github-slugger): its rendered text in
 * lower case, with every character but letters, digits, `_`, `-` and spaces
 * removed, spaces made hyphens. Code spans keep their text; markup outside
 * them (links, emphasis, HTML tags, backslash escapes) renders away.
 */
function slug(heading: string): string {
  const rendered = heading
    .split(/(`+[^`]*`+)/)
    .map((part, index) => {
      if (index % 2 === 1) return part.replace(/^`+|`+$/g, '');
      const unescaped: string[] = [];
      const marked = part.replace(/\\(.)/g, (_, char: string) => `${MARK}${unescaped.push(char) - 1}${MARK}`);
      return marked
        .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
        .replace(/<\/?[A-Za-z][^>]*>/g, '')
        .replace(/\*/g, '')
        .replace(new RegExp(`${MARK}(\\d+)${MARK}`, 'g'), (_, at: string) => unescaped[Number(at)]!);
    })
    .join('');
  return rendered
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

const anchorCache = new Map<string, Set<string>>();

/** The anchors of a page: its headings' slugs, numbered as GitHub numbers repeats, and any `<a id|name>`. */
function anchorsOf(page: string): Set<string> {
  const cached = anchorCache.get(page);
  if (cached !== undefined) return cached;
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of proseLines(readFileSync(path.join(ROOT, page), 'utf8'))) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading !== null) {
      const base = slug(heading[1]!);
      const count = seen.get(base) ?? 0;
      seen.set(base, count + 1);
      anchors.add(count === 0 ? base : `${base}-${count}`);
    }
    for (const [, id] of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(id!);
  }
  anchorCache.set(page, anchors);
  return anchors;
}

/** Every link target of a page: inline links and images, and reference definitions. */
function linksOf(text: string): string[] {
  const links: string[] = [];
  for (const line of proseLines(text)) {
    const prose = withoutCodeSpans(line);
    for (const [, target] of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) links.push(target!);
    const definition = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/.exec(prose);
    if (definition !== null) links.push(definition[1]!);
  }
  return links;
}

/** Why a link of `page` does not resolve, or null when it does. */
function brokenLink(page: string, link: string): string | null {
  if (/^[a-z][a-z0-9+.-]*:/i.test(link)) return null;
  const hashAt = link.indexOf('#');
  const target = decodeURIComponent(hashAt === -1 ? link : link.slice(0, hashAt));
  const anchor = hashAt === -1 ? null : decodeURIComponent(link.slice(hashAt + 1));
  const resolved = target === '' ? page : path.posix.normalize(path.posix.join(path.posix.dirname(page), target));
  if (resolved.startsWith('..')) return `${link} points outside the repository`;
  if (!existsSync(path.join(ROOT, resolved))) return `${link}: no file ${resolved}`;
  if (anchor === null || anchor === '' || !resolved.endsWith('.md')) return null;
  return anchorsOf(resolved).has(anchor) ? null : `${link}: no heading of ${resolved} has the anchor #${anchor}`;
}

it('finds the README, the design, the guides and the API reference', () => {
  expect(PAGES).toContain('docs/design.md');
  expect(PAGES).toContain('docs/api/README.md');
  expect(PAGES.filter((page) => page.startsWith('docs/guide/')).length).toBeGreaterThanOrEqual(6);
});

it('resolves every relative link and anchor in README.md and docs/', () => {
  const broken: string[] = [];
  let checked = 0;
  for (const page of PAGES) {
    for (const link of linksOf(readFileSync(path.join(ROOT, page), 'utf8'))) {
      checked++;
      const why = brokenLink(page, link);
      if (why !== null) broken.push(`${page}: ${why}`);
    }
  }
  expect(checked).toBeGreaterThan(100);
  expect(broken).toEqual([]);
});

it('makes anchors as GitHub does, so that a wrong one cannot pass', () => {
  expect(slug('`Engine.open(dir, options?): Promise<Engine>`')).toBe('engineopendir-options-promiseengine');
  expect(slug('Bounded disk and eviction')).toBe('bounded-disk-and-eviction');
  expect(slug('In code: `runCrashTests(options?): Promise<CrashTestSummary>`')).toBe('in-code-runcrashtestsoptions-promisecrashtestsummary');
  expect(slug('get\\<T\\>()')).toBe('gett');
  expect(slug('[Limits](#limits) *of* <b>it</b>')).toBe('limits-of-it');
  expect(brokenLink('README.md', 'docs/design.md#no-such-heading')).toMatch(/no heading of docs\/design\.md/);
  expect(brokenLink('README.md', 'docs/guide/no-such-guide.md')).toMatch(/no file/);
  expect(brokenLink('docs/README.md', 'guide/engine.md#events-per-operation')).toBeNull();
});

it('lists every guide in docs/README.md, each opening with whom it is for', () => {
  const map = readFileSync(path.join(ROOT, 'docs', 'README.md'), 'utf8');
  const listed = new Set(linksOf(map).map((link) => link.replace(/#.*$/, '')));
  for (const guide of PAGES.filter((page) => page.startsWith('docs/guide/'))) {
    expect(listed.has(path.posix.relative('docs', guide)), `docs/README.md does not list ${guide}`).toBe(true);
    const [title, opening] = readFileSync(path.join(ROOT, guide), 'utf8').split(/\n\s*\n/);
    expect(title, guide).toMatch(/^# /);
    expect(opening, `${guide} opens with whom it is for`).toMatch(/^For /);
  }
});

it('keeps the README a front door of at most 400 lines', () => {
  const lines = readFileSync(path.join(ROOT, 'README.md'), 'utf8').trimEnd().split('\n').length;
  expect(lines).toBeLessThanOrEqual(400);
});
