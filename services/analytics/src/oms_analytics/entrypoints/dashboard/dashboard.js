"use strict";
// Live charts over the service's reports: /v1/kpis (every channel's windows, filtered here)
// and the funds reconciliation's exceptions, fetched again every ?refresh= seconds (5 by
// default) without reloading the page. window.omsDashboard exposes the charts and how many
// refreshes succeeded, for scripts and the browser test.
(() => {
  const params = new URLSearchParams(location.search);
  const refreshMs = Math.max(1, Number(params.get("refresh") || 5)) * 1000;
  const shownWindows = 48;
  const palette = ["#2f6fdf", "#e8793b", "#2a9d6f", "#b04fc4", "#d4a72c", "#5d6b82", "#d2445a"];
  const channelSelect = document.getElementById("channel");
  const windowSelect = document.getElementById("window");
  const status = document.getElementById("status");
  const state = { refreshes: 0, lastError: null, charts: {} };
  window.omsDashboard = state;

  const make = (id, type, yTitle, stacked = false) => {
    state.charts[id] = new Chart(document.getElementById(id), {
      type,
      data: { labels: [], datasets: [] },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: {
          x: { stacked },
          y: { stacked, beginAtZero: true, title: { display: true, text: yTitle } },
        },
      },
    });
  };
  make("throughput", "bar", "orders");
  make("revenue", "bar", "amount");
  make("lead-times", "line", "minutes");
  make("rates", "line", "% of orders");
  make("exceptions", "bar", "orders");

  const color = (i) => palette[i % palette.length];
  const colours = (i) => ({ backgroundColor: color(i), borderColor: color(i) });  // one per channel
  const label = (iso) => iso.slice(5, 16).replace("T", " ");
  const decimals = (currency) => {
    try {
      return new Intl.NumberFormat("en", { style: "currency", currency })
        .resolvedOptions().maximumFractionDigits;
    } catch (e) {
      return 2;
    }
  };

  const show = (id, labels, datasets) => {
    const c = state.charts[id];
    c.data.labels = labels;
    c.data.datasets = datasets.map((d, i) => ({ ...colours(i), ...d }));
    c.update();
  };

  const fetchJson = async (path) => {
    const response = await fetch(path, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  };

  const updateChannels = (windows) => {
    const known = new Set([...channelSelect.options].map((o) => o.value));
    [...new Set(windows.map((w) => w.channel))].sort().forEach((channel) => {
      if (!known.has(channel)) channelSelect.add(new Option(channel, channel));
    });
  };

  const drawKpis = (windows) => {
    const channel = channelSelect.value;
    const shown = windows.filter((w) => !channel || w.channel === channel);
    const starts = [...new Set(shown.map((w) => w.start))].sort().slice(-shownWindows);
    const labels = starts.map(label);
    const at = new Map(starts.map((s, i) => [s, i]));
    const series = (pick) => {
      const values = starts.map(() => 0);
      shown.forEach((w) => { if (at.has(w.start)) values[at.get(w.start)] += pick(w); });
      return values;
    };
    show("throughput", labels, [
      { label: "placed", data: series((w) => w.orders_placed) },
      { label: "shipped", data: series((w) => w.shipped) },
    ]);
    const currencies = [...new Set(shown.flatMap((w) => Object.keys(w.revenue_minor)))].sort();
    show("revenue", labels, currencies.map((currency) => ({
      label: currency,
      data: series((w) => (w.revenue_minor[currency] || 0) / 10 ** decimals(currency)),
    })));
    // Percentiles and rates are per channel: they do not add up across channels.
    const channels = [...new Set(shown.map((w) => w.channel))].sort();
    const perChannel = (field, scale) => channels.map((c) => {
      const values = starts.map(() => null);
      shown.forEach((w) => {
        if (w.channel === c && at.has(w.start) && w[field] !== null) {
          values[at.get(w.start)] = w[field] * scale;
        }
      });
      return values;
    });
    const leadP50 = perChannel("lead_time_p50_s", 1 / 60);
    const leadP90 = perChannel("lead_time_p90_s", 1 / 60);
    show("lead-times", labels, channels.flatMap((c, i) => [
      { label: `${c} p50`, data: leadP50[i], spanGaps: true, ...colours(i) },
      { label: `${c} p90`, data: leadP90[i], spanGaps: true, borderDash: [6, 4], ...colours(i) },
    ]));
    const canceled = perChannel("cancellation_rate", 100);
    const rejected = perChannel("rejection_rate", 100);
    show("rates", labels, channels.flatMap((c, i) => [
      { label: `${c} canceled`, data: canceled[i], spanGaps: true, ...colours(i) },
      { label: `${c} rejected`, data: rejected[i], spanGaps: true, borderDash: [6, 4], ...colours(i) },
    ]));
  };

  const drawExceptions = (exceptions) => {
    const codes = [...new Set(exceptions.map((e) => e.code))].sort();
    show("exceptions", codes, [{
      label: "orders",
      data: codes.map((code) => exceptions.filter((e) => e.code === code).length),
    }]);
    const body = document.querySelector("#exception-list tbody");
    body.replaceChildren(...exceptions.slice(0, 50).map((e) => {
      const row = document.createElement("tr");
      [e.order_id, e.channel, e.placed_on, e.code, e.why].forEach((text) => {
        const cell = document.createElement("td");
        cell.textContent = text ?? "";
        row.append(cell);
      });
      return row;
    }));
  };

  let timer = null;
  const refresh = async () => {
    clearTimeout(timer);
    try {
      const channel = channelSelect.value;
      const query = channel ? `?channel=${encodeURIComponent(channel)}` : "";
      const [kpis, funds] = await Promise.all([
        fetchJson(`/v1/kpis?window=${windowSelect.value}`),
        fetchJson(`/v1/reports/reconciliation/exceptions${query}`),
      ]);
      updateChannels(kpis.windows);
      drawKpis(kpis.windows);
      drawExceptions(funds.exceptions);
      state.refreshes += 1;
      state.lastError = null;
      status.textContent = `updated ${new Date().toLocaleTimeString()}, ${kpis.windows.length} windows`;
    } catch (error) {
      state.lastError = String(error);
      status.textContent = `not updated: ${error.message}`;
    }
    timer = setTimeout(refresh, refreshMs);
  };
  channelSelect.addEventListener("change", refresh);
  windowSelect.addEventListener("change", refresh);
  refresh();
})();
