// The dashboard's behaviour: charts from the page's embedded data, the customer lookup, the what-if sliders,
// the refresh button. Data come from the API of the same app (same-origin, the session cookie).
"use strict";
const DATA = JSON.parse(document.getElementById("page-data").textContent || "{}");
const LAYOUT = { margin: { t: 30, r: 20, b: 50, l: 70 }, paper_bgcolor: "white", plot_bgcolor: "white",
                 legend: { orientation: "h", y: -0.2 }, font: { family: "system-ui, sans-serif" } };
const CONFIG = { displaylogo: false, responsive: true };
const money = (x) => x === null || x === undefined ? "–" : Math.round(x).toLocaleString("en-US");
const pct = (x) => x === null || x === undefined ? "–" : (100 * x).toFixed(0) + "%";

function plot(id, traces, layout) {
  const node = document.getElementById(id);
  if (node) Plotly.newPlot(node, traces, Object.assign({}, LAYOUT, layout || {}), CONFIG);
}

async function api(path, options) {
  const answer = await fetch(path, Object.assign({ credentials: "same-origin" }, options || {}));
  if (answer.status === 401) { window.location.href = "/login"; throw new Error("signed out"); }
  const body = await answer.json();
  if (!answer.ok) throw new Error(body.detail || ("error " + answer.status));
  return body;
}

const PAGES = {
  login() {
    document.getElementById("login").addEventListener("submit", async (event) => {
      event.preventDefault();
      const answer = await fetch("/api/session", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ token: document.getElementById("token").value.trim() }) });
      if (answer.ok) window.location.href = "/"; else document.getElementById("login-error").hidden = false;
    });
  },
  overview() {
    const points = DATA.kpis || [];
    const runs = points.map((p) => p.finished_at);
    plot("chart-equity", [
      { x: runs, y: points.map((p) => p.customer_equity), name: "customer equity", type: "scatter", mode: "lines+markers" },
      { x: runs, y: points.map((p) => p.mean_clv), name: "average CLV", yaxis: "y2", type: "scatter", mode: "lines+markers" },
    ], { yaxis: { title: "customer equity" }, yaxis2: { title: "average CLV", overlaying: "y", side: "right" } });
    const months = (DATA.drivers || []).filter((m) => m.complete);
    const x = months.map((m) => m.period);
    plot("chart-drivers", [
      { x, y: months.map((m) => m.aov), name: "average order value", type: "scatter" },
      { x, y: months.map((m) => m.purchase_frequency), name: "orders per active customer", yaxis: "y2", type: "scatter" },
      { x, y: months.map((m) => m.margin), name: "margin", yaxis: "y2", type: "scatter" },
      { x, y: months.map((m) => m.churn), name: "churn", yaxis: "y2", type: "scatter" },
    ], { yaxis: { title: "average order value" }, yaxis2: { title: "rate", overlaying: "y", side: "right" } });
  },
  segments() {
    const rows = DATA.playbook || [];
    plot("chart-playbook", [{ type: "bar", orientation: "h", y: rows.map((r) => r.action.replace(/_/g, " ")),
      x: rows.map((r) => r.value_at_stake), text: rows.map((r) => r.customers.toLocaleString("en-US") + " customers"),
      marker: { color: "#457b9d" } }], { title: "value at stake by action", margin: { l: 170, t: 40, r: 20, b: 40 } });
    const tiers = (DATA.sizes || []).filter((s) => s.kind === "value_tier");
    const risks = (DATA.sizes || []).filter((s) => s.kind === "risk_tier");
    plot("chart-tiers", [
      { type: "bar", x: tiers.map((s) => s.segment), y: tiers.map((s) => s.value), name: "CLV by value tier" },
      { type: "bar", x: risks.map((s) => s.segment), y: risks.map((s) => s.value), name: "CLV by churn risk" },
    ], { barmode: "group", yaxis: { title: "sum of CLV" } });
  },
  customers() {
    const body = document.querySelector("#results tbody");
    document.getElementById("search").addEventListener("submit", async (event) => {
      event.preventDefault();
      const q = document.getElementById("q").value.trim();
      if (!q) return;
      const page = await api("/api/customers?limit=20&q=" + encodeURIComponent(q));
      body.replaceChildren();
      for (const c of page.items) {
        const row = document.createElement("tr");
        row.className = "clickable";
        for (const value of [c.customer_id, money(c.clv), pct(c.p_alive), c.value_tier, c.risk_tier, c.action.replace(/_/g, " ")]) {
          const cell = document.createElement("td"); cell.textContent = value; row.appendChild(cell);
        }
        row.addEventListener("click", () => showCustomer(c.customer_id));
        body.appendChild(row);
      }
      document.getElementById("results").hidden = false;
      if (page.items.length === 1 || (page.items.length && page.items[0].customer_id === q)) showCustomer(page.items[0].customer_id);
    });
  },
  whatif() {
    let timer = null;
    const sliders = ["aov", "frequency", "margin", "churn"];
    const run = async () => {
      const body = {};
      for (const key of sliders) body[key] = Number(document.getElementById("s-" + key).value) / 100;
      const segment = document.getElementById("segment").value;
      if (segment) { body.segment_kind = "action"; body.segment = segment; }
      try {
        const answer = await api("/api/whatif", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
        const all = answer.totals[0];
        document.getElementById("equity-before").textContent = money(all.equity_before);
        document.getElementById("equity-after").textContent = money(all.equity_after);
        document.getElementById("equity-change").textContent = (all.change >= 0 ? "+" : "") + money(all.change) + " (" + (all.change_pct >= 0 ? "+" : "") + all.change_pct.toFixed(1) + "%)";
        plot("chart-whatif", [{ type: "bar", x: ["now", "after the change"], y: [all.equity_before, all.equity_after],
          marker: { color: ["#457b9d", "#e76f51"] } }], { yaxis: { title: "customer equity" } });
        document.getElementById("whatif-notes").textContent = answer.notes.join(" ");
      } catch (error) {
        document.getElementById("whatif-notes").textContent = error.message;
      }
    };
    for (const key of sliders) {
      const input = document.getElementById("s-" + key);
      input.addEventListener("input", () => {
        document.getElementById("o-" + key).textContent = (input.value >= 0 ? "+" : "") + input.value + "%";
        clearTimeout(timer); timer = setTimeout(run, 250);
      });
    }
    document.getElementById("segment").addEventListener("change", run);
    run();
  },
  runs() {
    const button = document.getElementById("refresh");
    if (!button) return;
    const status = document.getElementById("refresh-status");
    const follow = async () => {
      const p = await api("/api/refresh");
      status.textContent = p.running ? `running: ${p.stage} (${Math.round(100 * p.progress)}%)` : `last run ${p.last_status || "none"}`;
      if (p.running) setTimeout(follow, 1000); else if (button.disabled) window.location.reload();
    };
    button.addEventListener("click", async () => {
      button.disabled = true;
      try { await api("/api/refresh", { method: "POST" }); } catch (error) { status.textContent = error.message; }
      follow();
    });
    follow();
  },
};

async function showCustomer(id) {
  const detail = await api("/api/customers/" + encodeURIComponent(id));
  const c = detail.customer;
  document.getElementById("detail-title").textContent = "Customer " + c.customer_id + (c.email ? " · " + c.email : "");
  document.getElementById("detail-clv").textContent = money(c.clv);
  document.getElementById("detail-range").textContent = c.clv_low === null ? "" : money(c.clv_low) + " to " + money(c.clv_high);
  document.getElementById("detail-alive").textContent = pct(c.p_alive);
  document.getElementById("detail-next").textContent = c.expected_orders_90d === null ? "–" : c.expected_orders_90d.toFixed(2);
  document.getElementById("detail-action").textContent = c.action.replace(/_/g, " ");
  document.getElementById("detail-why").textContent = detail.action_why || "";
  document.getElementById("detail-products").textContent = c.next_products.length ? "Suggested next products: " + c.next_products.join(", ") : "";
  const h = detail.history;
  plot("chart-customer", [
    { x: h.map((p) => p.finished_at), y: h.map((p) => p.clv), name: "CLV", type: "scatter", mode: "lines+markers" },
    { x: h.map((p) => p.finished_at), y: h.map((p) => p.p_alive), name: "P(active)", yaxis: "y2", type: "scatter", mode: "lines+markers" },
  ], { yaxis: { title: "CLV" }, yaxis2: { title: "P(active)", overlaying: "y", side: "right", range: [0, 1] } });
  document.getElementById("detail").hidden = false;
}

const start = PAGES[document.body.dataset.page];
if (start) start();
