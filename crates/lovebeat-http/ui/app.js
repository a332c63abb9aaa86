// lovebeat's dashboard: a live, virtualized table of services and a
// sidebar of views, fed by the /ws websocket (a SNAPSHOT, then ADD_/
// UPDATE_/REMOVE_ SERVICE and VIEW events), acting through the HTTP API.
//
// Rules kept here: every URL is relative to the page's <base href> (itself
// relative, set by the server from the page's path, so any proxy prefix
// works); data only ever reaches the page as text (textContent,
// attributes), never as HTML; only the rows in sight exist in the DOM, so
// 10 000 services cost what 40 do.
'use strict';

(() => {
  const ROW_HEIGHT = 36;
  const OVERSCAN = 6;
  const RETRY_MIN_MS = 500;
  const RETRY_MAX_MS = 5000;
  const PARALLEL_REQUESTS = 8;
  const STATE_RANK = { error: 0, warning: 1, new: 2, ok: 3, muted: 4 };
  const SVG = 'http://www.w3.org/2000/svg';

  const $ = (id) => document.getElementById(id);

  /** name → service, as the server last sent it. */
  const services = new Map();
  /** name → view. */
  const views = new Map();
  /** Names of the checked services. */
  const selected = new Set();

  const ui = {
    /** The server's clock minus ours, from the last snapshot. */
    skew: 0,
    /** Names shown, in display order. */
    order: [],
    orderStale: true,
    viewsStale: true,
    view: '',
    filter: '',
    sortKey: 'state',
    sortDir: 1,
    live: false,
    renderQueued: false,
    pool: [],
  };

  // ---------------------------------------------------------------- text

  const UNITS = [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]];

  /** 90 000 ms → "1m 30s": the two largest units. */
  function human(ms) {
    const total = Math.max(0, Math.round(ms / 1000));
    for (let i = 0; i < UNITS.length; i++) {
      const [unit, size] = UNITS[i];
      if (total < size && unit !== 's') continue;
      const whole = Math.floor(total / size);
      if (i + 1 < UNITS.length) {
        const [next, nextSize] = UNITS[i + 1];
        const part = Math.floor((total - whole * size) / nextSize);
        if (part) return `${whole}${unit} ${part}${next}`;
      }
      return `${whole}${unit}`;
    }
    return '0s';
  }

  /** The compact form the edit dialog takes back: "1h30m". */
  function compact(ms) {
    let rest = Math.round(ms / 1000);
    let out = '';
    for (const [unit, size] of UNITS) {
      if (rest >= size) {
        out += Math.floor(rest / size) + unit;
        rest %= size;
      }
    }
    return out || '0s';
  }

  function serverNow() {
    return Date.now() + ui.skew;
  }

  function ago(ms) {
    const diff = serverNow() - ms;
    return diff < 1000 ? 'just now' : `${human(diff)} ago`;
  }

  function timeoutText(ms, service) {
    if (ms === -1) return ['—', 'No deadline'];
    if (ms === 0) return ['always', 'Always in this state'];
    if (ms === -2) {
      // The tooltip is the core's one line on why (auto_reason).
      const why = service.auto_reason
        ? `AUTO (${service.auto_algorithm}): ${service.auto_reason}`
        : undefined;
      return service.auto_timeout != null
        ? [`auto · ${human(service.auto_timeout)}`, why || 'AUTO: learned from the beat intervals']
        : ['auto · learning', why || 'AUTO: too few beats yet to set a deadline'];
    }
    return [human(ms), `${ms / 1000} s`];
  }

  /** The measured interval (§2.3 analysis): the middle 80% of intervals. */
  function intervalText(analysis) {
    if (!analysis) return '';
    const lower = human(analysis.lower * 1000);
    const upper = human(analysis.upper * 1000);
    const range = lower === upper ? lower : `${lower}–${upper}`;
    return analysis.unstable ? `unstable (${range})` : range;
  }

  /** The edit dialog's spelling of a wire timeout. */
  function timeoutInput(ms) {
    if (ms === -1) return 'never';
    if (ms === 0) return 'always';
    if (ms === -2) return 'auto';
    return compact(ms);
  }

  /** Dialog text → API value (seconds, -1, 0 or "auto"); undefined leaves it. */
  function parseTimeout(text) {
    const t = text.trim().toLowerCase();
    if (t === '') return undefined;
    if (t === 'auto') return 'auto';
    if (['never', 'none', 'off', '-1'].includes(t)) return -1;
    if (t === 'always') return 0;
    const m = /^(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s?)?$/.exec(t);
    if (!m || !m.slice(1).some(Boolean)) {
      throw new Error(`"${text.trim()}" is not a duration: try 90, 5m, 1h30m, auto or never`);
    }
    const [d, h, min, s] = m.slice(1).map((v) => Number(v || 0));
    return d * 86400 + h * 3600 + min * 60 + s;
  }

  // ------------------------------------------------------------- the DOM

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  function setText(node, text, title) {
    if (node.textContent !== text) node.textContent = text;
    if (title !== undefined && node.title !== title) node.title = title;
  }

  function makeRow() {
    const row = el('div', 'row');
    row.setAttribute('role', 'row');
    const check = el('input');
    check.type = 'checkbox';
    const checkCell = el('span', 'c-check');
    checkCell.append(check);
    const state = el('span', 'badge');
    const stateCell = el('span', 'c-state');
    stateCell.append(state);
    const name = el('span', 'name');
    const failure = el('span', 'failure');
    const nameCell = el('span', 'c-name');
    nameCell.append(name, failure);
    const spark = document.createElementNS(SVG, 'svg');
    spark.setAttribute('viewBox', '0 0 80 20');
    spark.setAttribute('preserveAspectRatio', 'none');
    spark.setAttribute('class', 'spark');
    const line = document.createElementNS(SVG, 'polyline');
    const sparkTitle = document.createElementNS(SVG, 'title');
    spark.append(sparkTitle, line);
    const sparkCell = el('span', 'c-spark');
    sparkCell.append(spark);
    const cells = {
      check, state, name, failure, line, sparkTitle,
      beat: el('span', 'c-beat'),
      warn: el('span', 'c-warn editable'),
      err: el('span', 'c-err editable'),
      interval: el('span', 'c-interval'),
      muted: el('span', 'c-muted'),
    };
    row.append(checkCell, stateCell, nameCell, cells.beat, cells.warn, cells.err,
      cells.interval, sparkCell, cells.muted);
    row.cells = cells;
    return row;
  }

  function sparkPoints(intervals) {
    if (!intervals || intervals.length < 2) return '';
    const max = Math.max(...intervals) || 1;
    const step = 80 / (intervals.length - 1);
    return intervals
      .map((v, i) => `${(i * step).toFixed(1)},${(19 - (v / max) * 17).toFixed(1)}`)
      .join(' ');
  }

  function fillRow(row, service) {
    const c = row.cells;
    if (row.dataset.name !== service.name) row.dataset.name = service.name;
    if (row.dataset.state !== service.state) row.dataset.state = service.state;
    const isSelected = selected.has(service.name);
    c.check.checked = isSelected;
    row.classList.toggle('selected', isSelected);
    setText(c.state, service.state);
    setText(c.name, service.name, service.name);
    const failure = service.failure ? service.failure.message || 'failed' : '';
    setText(c.failure, failure, failure);
    if (service.last_beat > 0) {
      setText(c.beat, ago(service.last_beat), new Date(service.last_beat).toLocaleString());
    } else {
      setText(c.beat, 'never', 'No beat has ever been seen');
    }
    const [warn, warnTitle] = timeoutText(service.warn_timeout, service);
    setText(c.warn, warn, `${warnTitle} (double-click to edit)`);
    const [err, errTitle] = timeoutText(service.timeout, service);
    setText(c.err, err, `${errTitle} (double-click to edit)`);
    setText(c.interval, intervalText(service.analysis));
    const points = sparkPoints(service.recent_intervals);
    if (c.line.getAttribute('points') !== points) c.line.setAttribute('points', points);
    const recent = (service.recent_intervals || []).slice(-5).map(human).join(', ');
    setText(c.sparkTitle, recent ? `Last intervals: ${recent}` : 'No intervals yet');
    setText(c.muted, service.muted_since > 0 ? ago(service.muted_since) : '',
      service.muted_since > 0 ? `Muted since ${new Date(service.muted_since).toLocaleString()}` : '');
  }

  // --------------------------------------------------------------- order

  function compare(a, b) {
    const byName = a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
    let d = 0;
    if (ui.sortKey === 'state') d = STATE_RANK[a.state] - STATE_RANK[b.state];
    else if (ui.sortKey === 'beat') d = a.last_beat - b.last_beat;
    return (d || byName) * ui.sortDir;
  }

  function recomputeOrder() {
    const terms = ui.filter.toLowerCase().split(/\s+/).filter(Boolean);
    const shown = [];
    for (const service of services.values()) {
      if (ui.view && !(service.in_alarms || []).includes(ui.view)) continue;
      if (!terms.every((t) => service.name.includes(t))) continue;
      shown.push(service);
    }
    shown.sort(compare);
    ui.order = shown.map((s) => s.name);
    ui.orderStale = false;
  }

  // -------------------------------------------------------------- render

  function scheduleRender() {
    if (ui.renderQueued) return;
    ui.renderQueued = true;
    requestAnimationFrame(render);
  }

  function render() {
    ui.renderQueued = false;
    if (ui.orderStale) recomputeOrder();
    renderRows();
    if (ui.viewsStale) renderViews();
    renderSummary();
    renderToolbar();
  }

  function renderRows() {
    const viewport = $('viewport');
    const box = $('rows');
    const total = ui.order.length;
    box.style.height = `${total * ROW_HEIGHT}px`;
    // The sticky header row scrolls with the table, above the rows.
    const top = Math.max(0, viewport.scrollTop - box.offsetTop);
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(total, Math.ceil((top + viewport.clientHeight) / ROW_HEIGHT) + OVERSCAN);
    while (ui.pool.length < last - first) {
      const row = makeRow();
      ui.pool.push(row);
      box.append(row);
    }
    ui.pool.forEach((row, k) => {
      const i = first + k;
      if (i >= last) {
        row.hidden = true;
        return;
      }
      row.hidden = false;
      row.style.transform = `translateY(${i * ROW_HEIGHT}px)`;
      fillRow(row, services.get(ui.order[i]));
    });
    $('table').classList.toggle('stale', !ui.live);
    $('empty').hidden = !(ui.live && services.size === 0);
    $('no-match').hidden = !(services.size > 0 && total === 0);
    setText($('shown'), services.size ? `${total} of ${services.size}` : '');
  }

  function renderViews() {
    ui.viewsStale = false;
    const list = $('views');
    const names = [...views.keys()].sort();
    const items = names.map((name) => {
      const view = views.get(name);
      const item = el('li');
      const button = el('button', 'view-link');
      button.type = 'button';
      button.dataset.view = name;
      button.classList.toggle('current', ui.view === name);
      const dot = el('span', 'dot');
      dot.dataset.state = view.state;
      const failed = view.failed_services.length;
      const meta = view.incident_nbr ? `#${view.incident_nbr}` : '';
      button.title = `${name}: ${view.state}, ${failed} of ${view.members} failing` +
        (view.incident_nbr ? `, incident #${view.incident_nbr}` : '');
      button.append(dot, el('span', 'view-name', name), el('span', 'view-meta', meta));
      item.append(button);
      return item;
    });
    list.replaceChildren(...items);
    $('no-views').hidden = views.size > 0;
    $('all-services').classList.toggle('current', ui.view === '');
  }

  function renderSummary() {
    const counts = { error: 0, warning: 0, new: 0, ok: 0, muted: 0 };
    for (const service of services.values()) counts[service.state] += 1;
    const parts = ['error', 'warning', 'ok', 'new', 'muted']
      .filter((state) => counts[state] || state === 'error' || state === 'ok')
      .map((state) => {
        const chip = el('span', 'chip', `${counts[state]} ${state}`);
        chip.dataset.state = state;
        return chip;
      });
    const summary = $('summary');
    const text = parts.map((p) => p.textContent).join('|');
    if (summary.dataset.text !== text) {
      summary.dataset.text = text;
      summary.replaceChildren(...parts);
    }
    setText($('all-count'), String(services.size));
    const worst = counts.error ? 'error' : counts.warning ? 'warning' : 'ok';
    $('all-services').querySelector('.dot').dataset.state = worst;
    const title = counts.error ? `(${counts.error}) lovebeat` : 'lovebeat';
    if (document.title !== title) document.title = title;
  }

  function renderToolbar() {
    for (const name of selected) if (!services.has(name)) selected.delete(name);
    const n = selected.size;
    setText($('selection'), n ? `${n} selected` : '');
    for (const button of document.querySelectorAll('.toolbar button[data-action]')) {
      button.disabled = n === 0;
    }
    const all = $('select-all');
    const shownSelected = ui.order.filter((name) => selected.has(name)).length;
    all.checked = shownSelected > 0 && shownSelected === ui.order.length;
    all.indeterminate = shownSelected > 0 && shownSelected < ui.order.length;
    for (const head of document.querySelectorAll('.row.head .sort')) {
      const current = head.dataset.sort === ui.sortKey;
      head.classList.toggle('sorted', current);
      head.dataset.dir = current && ui.sortDir < 0 ? 'desc' : 'asc';
    }
  }

  // ----------------------------------------------------------- the feed

  const feed = { socket: null, retries: 0, timer: null };

  function setConnection(state, text) {
    $('conn').dataset.state = state;
    setText($('conn-text'), text);
  }

  // With [http] read_tokens or write_tokens set, open the dashboard as
  // /?access_token=TOKEN: requests carry it as a bearer token, and the
  // websocket (which cannot send headers) as the same query parameter.
  const TOKEN = new URLSearchParams(location.search).get('access_token');

  function api(url, init = {}) {
    if (TOKEN) init.headers = { ...(init.headers || {}), Authorization: `Bearer ${TOKEN}` };
    return fetch(url, init);
  }

  function connect() {
    clearTimeout(feed.timer);
    const url = new URL('ws', document.baseURI);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('page', document.querySelector('meta[name="lovebeat-page"]').content);
    if (TOKEN) url.searchParams.set('access_token', TOKEN);
    setConnection('connecting', 'connecting…');
    const socket = new WebSocket(url);
    feed.socket = socket;
    socket.onmessage = (event) => receive(JSON.parse(event.data));
    socket.onclose = () => {
      if (feed.socket === socket) lost();
    };
  }

  function lost() {
    feed.socket = null;
    ui.live = false;
    const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** feed.retries);
    feed.retries += 1;
    setConnection('lost', 'offline');
    $('banner').hidden = false;
    setText($('banner-detail'),
      `The page shows what lovebeat reported before; next try in ${Math.ceil(delay / 1000)} s.`);
    feed.timer = setTimeout(connect, delay);
    scheduleRender();
  }

  function receive(message) {
    const { type } = message;
    if (type === 'SNAPSHOT') {
      services.clear();
      views.clear();
      for (const s of message.services) services.set(s.name, s);
      for (const v of message.views) views.set(v.name, v);
      ui.skew = message.now - Date.now();
      ui.live = true;
      feed.retries = 0;
      $('banner').hidden = true;
      setConnection('live', 'live');
      if (message.version) setText($('version'), message.version);
      ui.viewsStale = true;
    } else if (type === 'ADD_SERVICE' || type === 'UPDATE_SERVICE') {
      services.set(message.service.name, message.service);
    } else if (type === 'REMOVE_SERVICE') {
      services.delete(message.service.name);
      selected.delete(message.service.name);
    } else if (type === 'ADD_VIEW' || type === 'UPDATE_VIEW') {
      views.set(message.view.name, message.view);
      ui.viewsStale = true;
    } else if (type === 'REMOVE_VIEW') {
      views.delete(message.view.name);
      ui.viewsStale = true;
    } else {
      return; // …_ALARM repeats …_VIEW for Go lovebeat's dashboard.
    }
    ui.orderStale = true;
    scheduleRender();
  }

  // ------------------------------------------------------------ actions

  function toast(text, isError) {
    const box = $('toast');
    box.textContent = text;
    box.classList.toggle('error', Boolean(isError));
    box.hidden = false;
    clearTimeout(box.timer);
    box.timer = setTimeout(() => { box.hidden = true; }, isError ? 8000 : 3000);
  }

  function serviceUrl(name, suffix) {
    return `api/services/${encodeURIComponent(name)}${suffix || ''}`;
  }

  /** Runs `request(name)` for every name, a few at a time; returns errors. */
  async function forEachName(names, request) {
    const queue = [...names];
    const errors = [];
    const worker = async () => {
      while (queue.length) {
        const name = queue.shift();
        try {
          const response = await request(name);
          if (!response.ok) errors.push(`${name}: ${(await response.text()).trim()}`);
        } catch (e) {
          errors.push(`${name}: ${e.message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: PARALLEL_REQUESTS }, worker));
    return errors;
  }

  function postJson(url, body) {
    return api(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  const ACTIONS = {
    beat: { done: 'Beat', request: (n) => postJson(serviceUrl(n), { beat: true }) },
    mute: { done: 'Muted', request: (n) => api(serviceUrl(n, '/mute'), { method: 'POST' }) },
    unmute: { done: 'Unmuted', request: (n) => api(serviceUrl(n, '/unmute'), { method: 'POST' }) },
    delete: { done: 'Deleted', request: (n) => api(serviceUrl(n), { method: 'DELETE' }) },
  };

  function plural(n) {
    return n === 1 ? '1 service' : `${n} services`;
  }

  async function run(action, names) {
    const { done, request } = ACTIONS[action];
    const errors = await forEachName(names, request);
    if (errors.length) toast(`${errors.length} failed: ${errors.slice(0, 3).join('; ')}`, true);
    else toast(`${done} ${plural(names.length)}`);
  }

  function confirmDelete(names) {
    const dialog = $('confirm-dialog');
    setText($('confirm-title'), `Delete ${plural(names.length)}?`);
    const shown = names.slice(0, 5).join(', ') + (names.length > 5 ? ', …' : '');
    setText($('confirm-text'), `${shown}. A deleted service comes back with its next beat.`);
    dialog.onclose = () => {
      if (dialog.returnValue === 'ok') run('delete', names);
    };
    dialog.returnValue = '';
    dialog.showModal();
  }

  function openEdit(names) {
    const dialog = $('edit-dialog');
    const first = services.get(names[0]);
    const same = (key) => names.every((n) => services.get(n)?.[key] === first[key]);
    $('edit-warn').value = first && same('warn_timeout') ? timeoutInput(first.warn_timeout) : '';
    $('edit-err').value = first && same('timeout') ? timeoutInput(first.timeout) : '';
    setText($('edit-who'), names.length === 1 ? names[0] : plural(names.length));
    setText($('edit-error'), '');
    dialog.names = names;
    dialog.showModal();
    $('edit-err').focus();
  }

  async function saveEdit(event) {
    event.preventDefault();
    const dialog = $('edit-dialog');
    const body = { beat: false };
    try {
      const warn = parseTimeout($('edit-warn').value);
      const err = parseTimeout($('edit-err').value);
      if (warn !== undefined) body.warn_timeout = warn;
      if (err !== undefined) body.timeout = err;
    } catch (e) {
      setText($('edit-error'), e.message);
      return;
    }
    const names = dialog.names;
    dialog.close();
    const errors = await forEachName(names, (n) => postJson(serviceUrl(n), body));
    if (errors.length) toast(`${errors.length} failed: ${errors.slice(0, 3).join('; ')}`, true);
    else toast(`Timeouts saved for ${plural(names.length)}`);
  }

  // ------------------------------------------------------------- wiring

  function selectedNames() {
    return [...selected].filter((name) => services.has(name)).sort();
  }

  function readLocation() {
    const params = new URLSearchParams(location.hash.slice(1));
    let view = params.get('view') || '';
    const base = new URL(document.baseURI).pathname;
    if (!view && location.pathname.startsWith(base)) {
      const m = /^(?:alarms|views)\/([^/]+)$/.exec(location.pathname.slice(base.length));
      if (m) view = decodeURIComponent(m[1]);
    }
    ui.view = view;
    ui.filter = params.get('q') || '';
    $('filter').value = ui.filter;
    ui.orderStale = true;
    ui.viewsStale = true;
    scheduleRender();
  }

  function writeLocation() {
    const params = new URLSearchParams();
    if (ui.view) params.set('view', ui.view);
    if (ui.filter) params.set('q', ui.filter);
    const hash = params.toString();
    history.replaceState(null, '', hash ? `#${hash}` : location.pathname + location.search);
  }

  function wire() {
    $('filter').addEventListener('input', (e) => {
      ui.filter = e.target.value;
      ui.orderStale = true;
      writeLocation();
      scheduleRender();
    });
    $('viewport').addEventListener('scroll', scheduleRender, { passive: true });
    window.addEventListener('resize', scheduleRender);
    window.addEventListener('hashchange', readLocation);
    document.querySelector('.sidebar').addEventListener('click', (e) => {
      const button = e.target.closest('.view-link');
      if (!button) return;
      ui.view = button.dataset.view;
      ui.orderStale = true;
      ui.viewsStale = true;
      $('viewport').scrollTop = 0;
      writeLocation();
      scheduleRender();
    });
    document.querySelector('.row.head').addEventListener('click', (e) => {
      const head = e.target.closest('.sort');
      if (!head) return;
      ui.sortDir = head.dataset.sort === ui.sortKey ? -ui.sortDir : 1;
      ui.sortKey = head.dataset.sort;
      ui.orderStale = true;
      scheduleRender();
    });
    $('select-all').addEventListener('change', (e) => {
      for (const name of ui.order) {
        if (e.target.checked) selected.add(name);
        else selected.delete(name);
      }
      scheduleRender();
    });
    const rows = $('rows');
    rows.addEventListener('click', (e) => {
      const row = e.target.closest('.row');
      if (!row || !row.dataset.name) return;
      const name = row.dataset.name;
      const on = e.target.type === 'checkbox' ? e.target.checked : !selected.has(name);
      if (on) selected.add(name);
      else selected.delete(name);
      scheduleRender();
    });
    rows.addEventListener('dblclick', (e) => {
      const row = e.target.closest('.row');
      if (row && e.target.closest('.editable')) openEdit([row.dataset.name]);
    });
    document.querySelector('.toolbar').addEventListener('click', (e) => {
      const button = e.target.closest('button[data-action]');
      if (!button) return;
      const names = selectedNames();
      if (!names.length) return;
      const action = button.dataset.action;
      if (action === 'edit') openEdit(names);
      else if (action === 'delete') confirmDelete(names);
      else run(action, names);
    });
    $('edit-form').addEventListener('submit', saveEdit);
    $('edit-cancel').addEventListener('click', () => $('edit-dialog').close());
    $('confirm-ok').addEventListener('click', (e) => {
      e.preventDefault();
      $('confirm-dialog').close('ok');
    });
    $('confirm-cancel').addEventListener('click', () => $('confirm-dialog').close());
    document.addEventListener('keydown', (e) => {
      const typing = e.target.closest('input, textarea, dialog');
      if (e.key === '/' && !typing) {
        e.preventDefault();
        $('filter').focus();
      } else if (e.key === 'Escape' && !typing && selected.size) {
        selected.clear();
        scheduleRender();
      }
    });
    setText($('example-nc'), `echo "my.service.beat:1|c" | nc -u -w1 ${location.hostname} 8127`);
    setText($('example-curl'), `curl -X POST ${new URL('api/services/my.service', document.baseURI)}`);
    // "12s ago" keeps counting between events.
    setInterval(scheduleRender, 1000);
  }

  wire();
  readLocation();
  connect();
})();
