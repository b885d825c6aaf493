"use strict";
// Live charts over the service's reports: /v1/kpis (every channel's windows, filtered here),
// /v1/kpis/locations (every location's, filtered here), the stuck orders, the stock-outs, the
// inventory turnover and the funds reconciliation's exceptions, fetched again every ?refresh= seconds (5 by
// default) without reloading the page. window.omsDashboard exposes the charts and how many
// refreshes succeeded, for scripts and the browser test.
(() => {
  const params = new URLSearchParams(location.search);
  const refreshMs = Math.max(1, Number(params.get("refresh") || 5)) * 1000;
  const shownWindows = 48;
  const shownItems = 20;
  const palette = ["#2f6fdf", "#e8793b", "#2a9d6f", "#b04fc4", "#d4a72c", "#5d6b82", "#d2445a"];
  const channelSelect = document.getElementById("channel");
  const locationSelect = document.getElementById("location");
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
  make("locations", "bar", "orders");
  make("location-rates", "line", "% of fulfilment orders offered / of orders");
  make("stuck", "bar", "orders");
  make("stock-outs", "bar", "stock-outs / hours");
  make("turnover", "bar", "turns over the days known");
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

  const updateOptions = (select, names) => {
    const known = new Set([...select.options].map((o) => o.value));
    [...new Set(names)].sort().forEach((name) => {
      if (!known.has(name)) select.add(new Option(name, name));
    });
  };

  // The last windows of those shown: their labels, and sums or per-name series over them.
  const timeline = (shown) => {
    const starts = [...new Set(shown.map((w) => w.start))].sort().slice(-shownWindows);
    const at = new Map(starts.map((s, i) => [s, i]));
    const series = (pick) => {
      const values = starts.map(() => 0);
      shown.forEach((w) => { if (at.has(w.start)) values[at.get(w.start)] += pick(w); });
      return values;
    };
    const perName = (key, names, field, scale) => names.map((name) => {
      const values = starts.map(() => null);
      shown.forEach((w) => {
        if (w[key] === name && at.has(w.start) && w[field] !== null) {
          values[at.get(w.start)] = w[field] * scale;
        }
      });
      return values;
    });
    // One line per name and rate, in the name's colour, with the rate's dash.
    const rateLines = (key, names, rates) => {
      const measured = rates.map(([, field]) => perName(key, names, field, 100));
      return names.flatMap((n, i) => rates.map(([rate, , dash], r) => ({
        label: `${n} ${rate}`, data: measured[r][i], spanGaps: true, borderDash: dash,
        ...colours(i),
      })));
    };
    return { labels: starts.map(label), series, perName, rateLines };
  };

  // The first 50 rows, each a row of cells with the texts picked.
  const fillTable = (selector, rows, pick) => {
    document.querySelector(`${selector} tbody`).replaceChildren(...rows.slice(0, 50).map((r) => {
      const row = document.createElement("tr");
      pick(r).forEach((text) => {
        const cell = document.createElement("td");
        cell.textContent = text ?? "";
        row.append(cell);
      });
      return row;
    }));
  };

  const drawKpis = (windows) => {
    const channel = channelSelect.value;
    const shown = windows.filter((w) => !channel || w.channel === channel);
    const { labels, series, perName, rateLines } = timeline(shown);
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
    const perChannel = (field, scale) => perName("channel", channels, field, scale);
    const leadP50 = perChannel("lead_time_p50_s", 1 / 60);
    const leadP90 = perChannel("lead_time_p90_s", 1 / 60);
    const deliveryP50 = perChannel("delivery_lead_time_p50_s", 1 / 60);
    show("lead-times", labels, channels.flatMap((c, i) => [
      { label: `${c} p50`, data: leadP50[i], spanGaps: true, ...colours(i) },
      { label: `${c} p90`, data: leadP90[i], spanGaps: true, borderDash: [6, 4], ...colours(i) },
      { label: `${c} to delivery p50`, data: deliveryP50[i], spanGaps: true,
        borderDash: [2, 2], ...colours(i) },
    ]));
    const rates = [["canceled", "cancellation_rate", []], ["rejected", "rejection_rate", [6, 4]],
      ["backordered", "backorder_rate", [2, 2]], ["on time", "on_time_rate", [10, 3, 2, 3]],
      ["returned", "return_rate", [1, 3]]];
    show("rates", labels, rateLines("channel", channels, rates));
  };

  const drawLocations = (windows) => {
    const place = locationSelect.value;
    const shown = windows.filter((w) => !place || w.location === place);
    const { labels, series, rateLines } = timeline(shown);
    show("locations", labels, [
      { label: "offered", data: series((w) => w.fulfilment_orders_offered) },
      { label: "rejected", data: series((w) => w.rejected) },
      { label: "re-sourced", data: series((w) => w.resourced) },
      { label: "shipped", data: series((w) => w.shipped) },
    ]);
    // Rates are per location: they do not add up across locations.
    const places = [...new Set(shown.map((w) => w.location))].sort();
    const rates = [["rejection", "rejection_rate", []], ["re-sourcing", "resourcing_rate", [6, 4]],
      ["on time", "on_time_rate", [2, 2]]];
    show("location-rates", labels, rateLines("location", places, rates));
  };

  const drawStuck = (report) => {
    show("stuck", report.statuses.map((s) => s.status), [{
      label: "stuck",
      data: report.statuses.map((s) => s.stuck),
    }]);
  };

  const drawStock = (report, out) => {
    const { labels, series } = timeline(report.windows);
    show("stock-outs", labels, [
      { label: "stock-outs", data: series((w) => w.stock_outs) },
      { label: "hours out of stock", data: series((w) => w.seconds_out_of_stock / 3600) },
    ]);
    fillTable("#out-of-stock", out.out_of_stock, (o) => [o.sku, o.location, o.since]);
  };

  // The fastest-turning SKUs at their locations first; those with no turnover figure last.
  const drawTurnover = (report) => {
    const items = [...report.items].sort((a, b) => (b.turnover ?? -1) - (a.turnover ?? -1));
    const charted = items.slice(0, shownItems);
    show("turnover", charted.map((i) => `${i.sku} @ ${i.location}`), [
      { label: "turnover", data: charted.map((i) => i.turnover) },
    ]);
    fillTable("#turnover-list", items, (i) => [i.sku, i.location, i.days_closed,
      i.average_on_hand, i.units_moved, i.turnover, i.days_of_supply]);
  };

  const drawExceptions = (exceptions) => {
    const codes = [...new Set(exceptions.map((e) => e.code))].sort();
    show("exceptions", codes, [{
      label: "orders",
      data: codes.map((code) => exceptions.filter((e) => e.code === code).length),
    }]);
    fillTable("#exception-list", exceptions,
      (e) => [e.order_id, e.channel, e.placed_on, e.code, e.why]);
  };

  let timer = null;
  const refresh = async () => {
    clearTimeout(timer);
    try {
      const channel = channelSelect.value;
      const place = locationSelect.value;
      const query = channel ? `?channel=${encodeURIComponent(channel)}` : "";
      const where = new URLSearchParams({ channel, location: place }).toString();
      const atPlace = new URLSearchParams({ location: place }).toString();
      const [kpis, places, funds, stuck, stock, out, turnover] = await Promise.all([
        fetchJson(`/v1/kpis?window=${windowSelect.value}`),
        fetchJson(`/v1/kpis/locations?window=${windowSelect.value}`),
        fetchJson(`/v1/reports/reconciliation/exceptions${query}`),
        fetchJson(`/v1/reports/stuck?${where}`),
        fetchJson(`/v1/reports/stock?window=hour&${atPlace}`),
        fetchJson(`/v1/reports/stock/out?${atPlace}`),
        fetchJson(`/v1/reports/stock/turnover?${atPlace}`),
      ]);
      updateOptions(channelSelect, kpis.windows.map((w) => w.channel));
      updateOptions(locationSelect, places.windows.map((w) => w.location));
      drawKpis(kpis.windows);
      drawLocations(places.windows);
      drawStuck(stuck);
      drawStock(stock, out);
      drawTurnover(turnover);
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
  locationSelect.addEventListener("change", refresh);
  windowSelect.addEventListener("change", refresh);
  refresh();
})();
