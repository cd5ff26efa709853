package chromium

import "fmt"

// StatusPageSortedBy is a JavaScript expression for the status page
// (exporter/ui): whether its rows are in the order of the column col
// (desc: highest first), each value read from what the row shows. A row
// without a value comes after every row with one, whichever the direction;
// ties are by name (checked for states only: numbers are shown rounded).
func StatusPageSortedBy(col string, desc bool) string {
	return fmt.Sprintf(`(() => {
  const num = (s) => { if (s === '–' || s === 'no calls') return -1; const v = parseFloat(s); return s.endsWith('ms') ? v : s.endsWith('s') ? v * 1000 : v; };
  const val = {
    name: (r) => r.dataset.name,
    state: (r) => ({closed: 0, 'half-open': 1, open: 2})[r.dataset.state],
    err: (r) => num(r.querySelector('.err').textContent),
    p95: (r) => { const t = r.querySelector('.lat').textContent; return t === '–' ? -1 : num(t.split(' / ')[1]); },
    cps: (r) => num(r.querySelector('.cps').textContent),
  }[%q];
  const rs = [...document.querySelectorAll('#rows tr')];
  for (let i = 1; i < rs.length; i++) {
    const a = val(rs[i-1]), b = val(rs[i]);
    if (a === -1 && b !== -1) return false;
    if (a === b) { if (%q === 'state' && rs[i-1].dataset.name > rs[i].dataset.name) return false; continue; }
    if (b !== -1 && (%v ? a < b : a > b)) return false;
  }
  return true;
})()`, col, col, desc)
}
