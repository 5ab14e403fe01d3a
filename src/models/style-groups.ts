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
