/**
 * The "EAS services" side panel: the easlab kernel's services, their state and traffic.
 *
 * Every call goes to the Jupyter server's /easlab-lab/api (easlab/lab/handlers.py),
 * which adds the kernel's admin token server side: the admin token is never in this
 * page, and a service's token only after its "reveal token" button asks for it.
 */
import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Dialog, InputDialog, showDialog } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { ServerConnection } from '@jupyterlab/services';
import { listIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

interface ISeriesPoint {
  t: number;
  qps: number;
  p99_ms: number | null;
}

interface IService {
  name: string;
  status: string;
  message: string;
  url: string;
  has_token: boolean;
  processor: string;
  total_instance: number;
  running_instance: number;
  current_version: number;
  windows: { [w: string]: { qps: number; p99_ms: number | null } };
  series: ISeriesPoint[];
}

interface IState {
  kernel: { endpoint: string } | null;
  message?: string;
  services: IService[];
}

async function api(path: string, init: RequestInit = {}): Promise<any> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'easlab-lab', 'api', path);
  const resp = await ServerConnection.makeRequest(url, init, settings);
  const text = await resp.text();
  let data: any;
  try {
    data = JSON.parse(text);
  } catch {
    // not our handlers' JSON: Jupyter's HTML 404 page when the server extension is not
    // loaded (the front end alone installed), or a proxy's error page
    if (resp.status === 404) {
      throw new Error(
        'the easlab server extension is not loaded in this Jupyter server ' +
          `(${url} answered 404): run \`python -m easlab.lab.install\` in the ` +
          'environment Jupyter runs from, then restart Jupyter'
      );
    }
    throw new Error(
      `HTTP ${resp.status} from ${url}, not JSON: ${text.slice(0, 200) || resp.statusText}`
    );
  }
  if (!resp.ok) {
    // {"error"}: ours (handlers.py); {"message"}: Jupyter's own (a 403 for an expired login)
    throw new Error(data?.error || data?.message || `HTTP ${resp.status}`);
  }
  return data;
}

/** The API path of one service's action; the name is encoded as one path segment. */
function action(name: string, verb: string): string {
  return `services/${encodeURIComponent(name)}/${verb}`;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  cls: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = cls;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/** A small SVG line of values (null: a gap), scaled to its own maximum. */
function sparkline(values: (number | null)[], cls: string, label: string): SVGSVGElement {
  const w = 104;
  const h = 28;
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('width', String(w));
  svg.setAttribute('height', String(h));
  svg.setAttribute('class', `easlab-spark ${cls}`);
  svg.setAttribute('aria-label', label);
  const max = Math.max(1e-9, ...values.map(v => v ?? 0));
  const step = values.length > 1 ? w / (values.length - 1) : w;
  let d = '';
  values.forEach((v, i) => {
    if (v === null) {
      return;
    }
    const x = (i * step).toFixed(1);
    const y = (h - 2 - (v / max) * (h - 4)).toFixed(1);
    d += `${d && values[i - 1] !== null ? 'L' : 'M'}${x},${y}`;
  });
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', d || `M0,${h - 2}L${w},${h - 2}`);
  svg.appendChild(path);
  const title = document.createElementNS(ns, 'title');
  title.textContent = label;
  svg.appendChild(title);
  return svg;
}

export class ServicesPanel extends Widget {
  private list: HTMLDivElement;
  private header: HTMLDivElement;
  private timer: number | undefined;
  private busy = false;
  /** tokens the user asked to see, kept across the refreshes that rebuild the cards */
  private revealed = new Map<string, string>();

  constructor(private notebooks: INotebookTracker | null) {
    super();
    this.id = 'easlab-services';
    this.title.caption = 'EAS services';
    this.title.icon = listIcon;
    this.addClass('easlab-panel');
    this.header = el('div', 'easlab-header');
    this.list = el('div', 'easlab-list');
    const title = el('h2', 'easlab-title', 'EAS services');
    this.node.append(title, this.header, this.list);
  }

  protected onAfterAttach(): void {
    void this.refresh();
    this.timer = window.setInterval(() => void this.refresh(), 2000);
  }

  protected onBeforeDetach(): void {
    window.clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    if (this.busy) {
      return;
    }
    this.busy = true;
    try {
      this.render(await api('state?window=60'));
    } catch (err) {
      this.header.textContent = `easlab: ${(err as Error).message}`;
    } finally {
      this.busy = false;
    }
  }

  private render(state: IState): void {
    this.header.replaceChildren();
    this.list.replaceChildren();
    // a revealed token is forgotten with its service (a new one of that name has its own)
    const names = new Set(state.services.map(s => s.name));
    for (const name of [...this.revealed.keys()]) {
      if (!names.has(name)) {
        this.revealed.delete(name);
      }
    }
    if (!state.kernel) {
      const box = el('div', 'easlab-nokernel');
      box.append(el('p', '', 'No easlab kernel is running.'));
      const start = el('button', 'jp-mod-styled jp-mod-accept', 'Start a kernel');
      start.onclick = async () => {
        start.disabled = true;
        start.textContent = 'Starting…';
        await this.guard(() => api('kernel', { method: 'POST' }));
      };
      box.append(start);
      this.header.append(box);
      return;
    }
    this.header.append(
      el('div', 'easlab-kernel', `kernel ${state.kernel.endpoint}`)
    );
    if (!state.services.length) {
      this.list.append(el('p', 'easlab-empty', 'No services yet: %%eas create NAME'));
    }
    for (const svc of state.services) {
      this.list.append(this.card(svc));
    }
  }

  private card(svc: IService): HTMLElement {
    const card = el('div', 'easlab-card');
    card.dataset.service = svc.name;
    const top = el('div', 'easlab-card-top');
    top.append(el('span', 'easlab-name', svc.name));
    top.append(el('span', `easlab-status easlab-status-${svc.status.toLowerCase()}`, svc.status));
    card.append(top);
    const oneMin = svc.windows['60s'] || { qps: 0, p99_ms: null };
    const facts = el('div', 'easlab-facts');
    facts.append(
      el('span', 'easlab-instances', `${svc.running_instance}/${svc.total_instance} instances`),
      el('span', 'easlab-version', `v${svc.current_version}`),
      el('span', 'easlab-qps', `${oneMin.qps.toFixed(1)} req/s`),
      el('span', 'easlab-p99', oneMin.p99_ms === null ? 'p99 –' : `p99 ${oneMin.p99_ms} ms`)
    );
    card.append(facts);
    const sparks = el('div', 'easlab-sparks');
    sparks.append(
      sparkline(svc.series.map(p => p.qps), 'easlab-spark-qps', `${svc.name} requests/s`),
      sparkline(svc.series.map(p => p.p99_ms), 'easlab-spark-p99', `${svc.name} p99 ms`)
    );
    card.append(sparks);

    const endpoint = el('div', 'easlab-endpoint');
    endpoint.append(el('code', '', svc.url));
    const copy = el('button', 'easlab-copy jp-mod-styled', 'copy');
    copy.onclick = () => void navigator.clipboard?.writeText(svc.url);
    endpoint.append(copy);
    card.append(endpoint);
    const token = el('div', 'easlab-token');
    const shown = el('code', 'easlab-token-value', '••••••••');
    const reveal = el('button', 'easlab-reveal jp-mod-styled', 'reveal token');
    // the list never carries tokens: one is fetched on the click that asks for it
    reveal.onclick = async () => {
      try {
        const data = await api(action(svc.name, 'token'), {
          method: 'POST'
        });
        this.revealed.set(svc.name, data.token ?? '(none)');
        shown.textContent = this.revealed.get(svc.name) ?? '';
        reveal.remove();
      } catch (err) {
        shown.textContent = `could not read the token: ${(err as Error).message}`;
      }
    };
    const known = this.revealed.get(svc.name);
    if (!svc.has_token || known !== undefined) {
      shown.textContent = svc.has_token ? (known ?? '') : '(none)';
      token.append(shown);
    } else {
      token.append(shown, reveal);
    }
    card.append(token);
    if (svc.message) {
      card.append(el('div', 'easlab-message', svc.message));
    }

    const actions = el('div', 'easlab-actions');
    const button = (label: string, fn: () => Promise<unknown>) => {
      const b = el('button', `jp-mod-styled easlab-${label.split(' ')[0]}`, label);
      b.onclick = () => void this.guard(fn);
      actions.append(b);
    };
    if (svc.status === 'Stopped') {
      button('start', () => api(action(svc.name, 'start'), { method: 'POST' }));
    } else {
      button('stop', () => api(action(svc.name, 'stop'), { method: 'POST' }));
    }
    button('scale', async () => {
      const got = await InputDialog.getNumber({
        title: `Instances of ${svc.name}`,
        value: svc.total_instance
      });
      if (got.button.accept && got.value !== null) {
        return api(action(svc.name, 'scale'), {
          method: 'POST',
          body: JSON.stringify({ instances: Math.round(got.value) })
        });
      }
    });
    button('delete', async () => {
      const ok = await showDialog({
        title: `Delete ${svc.name}?`,
        body: 'The service, its versions and its instances go away.',
        buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
      });
      if (ok.button.accept) {
        return api(action(svc.name, 'delete'), { method: 'POST' });
      }
    });
    button('debug widget', async () => this.debug(svc.name));
    card.append(actions);
    return card;
  }

  /** Insert `%eas debug NAME` below the active cell of the current notebook and run it. */
  private async debug(name: string): Promise<void> {
    const panel = this.notebooks?.currentWidget;
    if (!panel) {
      await showDialog({ title: 'No notebook', body: 'Open a notebook first.', buttons: [Dialog.okButton()] });
      return;
    }
    // the name goes into a code cell that runs: only a name the kernel accepts (SPEC §5),
    // never one with a newline and code after it from something posing as a kernel
    if (!/^[a-z][a-z0-9_]*$/.test(name)) {
      await showDialog({
        title: 'easlab',
        body: `${JSON.stringify(name)} is not a service name (a-z, 0-9, _): not run`,
        buttons: [Dialog.okButton()]
      });
      return;
    }
    const notebook = panel.content;
    NotebookActions.insertBelow(notebook);
    const cell = notebook.activeCell;
    if (cell) {
      cell.model.sharedModel.setSource(`%load_ext easlab\n%eas debug ${name}`);
      await NotebookActions.run(notebook, panel.sessionContext);
    }
  }

  private async guard(fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      await showDialog({
        title: 'easlab',
        body: (err as Error).message,
        buttons: [Dialog.okButton()]
      });
    }
    await this.refresh();
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'easlab-lab:services',
  description: 'The EAS services panel of the easlab kernel',
  autoStart: true,
  requires: [ILabShell],
  optional: [INotebookTracker],
  activate: (
    app: JupyterFrontEnd,
    shell: ILabShell,
    notebooks: INotebookTracker | null
  ) => {
    const panel = new ServicesPanel(notebooks);
    shell.add(panel, 'left', { rank: 900 });
  }
};

export default plugin;
