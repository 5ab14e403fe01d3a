/**
 * The edit panel's named style ranges of an n-style generator (those it has): coarse 0-3, medium 4-7, fine 8 on.
 * Free of tfjs, so the page's own bundle can read it; the evaluation measures sliders on the same names.
 */
export function styleGroups(n: number): Array<{ name: string; start: number; end: number }> {
  return [
    { name: 'all', start: 0, end: n },
    { name: 'coarse', start: 0, end: Math.min(4, n) },
    { name: 'medium', start: 4, end: Math.min(8, n) },
    { name: 'fine', start: 8, end: n },
  ].filter((g) => g.end > g.start);
}

/**
 * A named style range of an n-style generator: 'all', a group ('coarse', 'medium', 'fine', joined by '+' for their
 * span: 'coarse+medium' leaves out the fine styles, where StyleGAN keeps colour) or styles a to b - 1 as 'a-b'.
 */
export function namedStyleRange(name: string, n: number): { start: number; end: number } {
  const numbered = /^(\d+)-(\d+)$/.exec(name);
  if (numbered) {
    const [start, end] = [Number(numbered[1]), Number(numbered[2])];
    if (start < end && end <= n) return { start, end };
    throw new RangeError(`styles ${name} are not a range within 0-${n}`);
  }
  const groups = Object.fromEntries(styleGroups(n).map(({ name: g, start, end }) => [g, { start, end }]));
  const parts = name.split('+').map((p) => groups[p]);
  if (parts.some((p) => !p)) throw new RangeError(`unknown style range "${name}" (all, or coarse / medium / fine joined by +, or a-b)`);
  return { start: Math.min(...parts.map((p) => p.start)), end: Math.max(...parts.map((p) => p.end)) };
}
