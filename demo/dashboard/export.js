// "Download CSV" buttons: the collector makes the CSV (GET /v1/stats/<report>?format=csv), so a
// download holds exactly the numbers the API serves for the period shown.
import { h } from './format.js';
import { api } from './api.js';
import { current } from './range.js';

/** A button that downloads `report` (with `extra` parameters, e.g. { table }) for the period shown. */
export function csvButton(report, { label = 'Download CSV', extra = () => ({}), testid = `csv-${report}` } = {}) {
  const button = h('button', { type: 'button', class: 'btn btn-small btn-csv', testid, title: `This table as CSV (GET /v1/stats/${report}?format=csv)` }, label);
  button.addEventListener('click', async () => {
    button.disabled = true;
    const before = button.textContent;
    button.textContent = 'Preparing…';
    try {
      const { text, filename } = await api.csv(report, current(), extra());
      const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
      const link = h('a', { href: url, download: filename, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      button.textContent = before;
    } catch (err) {
      button.textContent = `CSV failed: ${err.message}`;
      setTimeout(() => (button.textContent = before), 4000);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}
