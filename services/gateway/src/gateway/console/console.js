// The relint console: reads the public graph (POST /graphql with the person's key) and draws
// it. No library and no build step; charts are SVG made here. Every text from the graph goes
// in with textContent, never as markup: names and notes come from partners' systems.
"use strict";

(() => {
  const KEY_STORAGE = "relint.console.key";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const COMING_TOGETHER = ["initiating", "experimenting", "intensifying", "integrating", "bonding"];
  const COMING_APART = ["differentiating", "circumscribing", "stagnating", "avoiding", "terminating"];
  const STAGES = [...COMING_TOGETHER, ...COMING_APART];
  const DEFAULT_TYPE_COLOURS = {
    Acquaintance: "#5b8ec9",
    "Fair-Weather Friend": "#e8912d",
    BFF: "#8e44ad",
    Partner: "#27a05a",
  };
  const MORE_TYPE_COLOURS = ["#c0392b", "#16a2a0", "#c9a80c", "#34495e", "#d9488f", "#7a5230"];
  const UNPLACED_COLOUR = "#a7afb8";
  const TIMELINE_RANGES = { "3 months": 91, "1 year": 365, "2 years": 730 };

  // Every query that can answer for a past moment takes $asOf (null: now).
  const PORTFOLIO_QUERY = `query ConsolePortfolio($asOf: DateTime) {
    portfolio(asOf: $asOf, limit: 500) {
      asOf customerCount
      types { relationshipType customers revenue costToServe profit }
      stages { stage customers comingApart }
      points { customerId name relationshipType revenue costToServe profit }
      pareto { topShare revenueShare profitShare }
    }
  }`;
  const AT_RISK_QUERY = `query ConsoleAtRisk($asOf: DateTime) {
    atRisk(limit: 20, asOf: $asOf) {
      customerId name
      relationship(asOf: $asOf) { risk riskReasons stage comingApart relationshipType value }
    }
  }`;
  const ALERTS_QUERY = `query ConsoleAlerts($asOf: DateTime) {
    alerts(openOnly: true, limit: 20, asOf: $asOf) { id customerId kind severity reason raisedAt }
  }`;
  // Next best actions, obligations, violations and lookalikes are the present's only.
  const CUSTOMER_QUERY = `query ConsoleCustomer($id: ID!, $start: DateTime, $asOf: DateTime) {
    customer(id: $id) {
      customerId externalId name interactionCount firstSeenAt lastSeenAt
      relationship(asOf: $asOf) {
        asOf value trend lastContribution relationshipType typeReason stage stageReason comingApart
        risk riskReasons potential potentialReason interactionCount
        timeline(start: $start, end: $asOf, points: 60) { at value stage relationshipType }
        explanation(start: $start, end: $asOf, top: 8) { startValue endValue change sentence fading
          drivers { interactionId occurredAt reason effect } }
      }
      interactions(first: 20, to: $asOf) { edges { node {
        id occurredAt channel kind direction sentiment amount amountType currency employee text
      } } }
      nextBestActions(limit: 5) { kind title reason urgency dueAt employee }
      similarCustomers(limit: 5) {
        customerId similarity behaviourSimilarity textSimilarity reasons
        customer { name relationship { relationshipType } }
      }
      alerts(limit: 10, asOf: $asOf) { id kind severity reason raisedAt acknowledgedAt }
      obligations { standardTitle team what dueAt }
      violations { standardTitle team reason dueAt detectedAt }
    }
  }`;
  const ANALYSIS_QUERY = `query ConsoleAnalysis($asOf: DateTime) {
    analysis(asOf: $asOf) {
      serviceImpact {
        asOf customers lost windowDays hazardCount upsellCount
        hazards(limit: 10) { issueType customersWith lostAfter exposedYears lostUnexposed
          unexposedYears hazardRatio interval { low high } foreshadowsLoss }
        upsells(limit: 10) { issueType resolved followed share baseResolved baseFollowed
          baseRate lift interval { low high } opensUpsell }
      }
      journeyEndings {
        asOf lost retained windowDays causeCount trendCount
        causes(limit: 10) { cause lostWith lost retainedWith retained lift interval { low high } trend }
      }
      stars {
        asOf meanRetention meanExpansion meanRevenuePerMonth employeeCount
        employees(limit: 10) { employee customers retained retention retentionRaw
          retentionInterval { low high } expanded expansion revenuePerMonth }
      }
      engagementSales {
        asOf months customers
        channels { channel engagements customers bestLagMonths leadsRevenue
          lags { lagMonths pairs correlation interval { low high } revenuePerEngagement } }
      }
      returnOnRelationship(limit: 10) {
        asOf periodStart
        tenant { customers revenue loyalty recommendations sharing total beyondRevenueShare }
        top { customerId relationshipType revenue loyalty recommendations sharing total }
      }
    }
  }`;
  const PLAYBOOK_QUERY = `query ConsolePlaybook {
    playbookVersions(limit: 20) {
      name version createdAt
      standards { key title team relationshipTypes stages rule }
    }
  }`;
  const WORKLIST_QUERY = `query ConsoleWorklist($team: String) {
    worklist(team: $team, limit: 20) { customerId kind title reason urgency dueAt standardKey employee }
  }`;
  const LENSES = ["serviceImpact", "journeyEndings", "stars", "engagementSales", "returnOnRelationship"];
  const ACKNOWLEDGE_MUTATION = `mutation ConsoleAcknowledge($id: ID!) {
    acknowledgeAlert(alertId: $id) {
      __typename
      ... on NotFound { message }
      ... on NotAllowed { message }
    }
  }`;

  const number = new Intl.NumberFormat("en", { maximumFractionDigits: 0 });
  const decimal = new Intl.NumberFormat("en", { maximumFractionDigits: 1, minimumFractionDigits: 1 });
  const percent = new Intl.NumberFormat("en", { style: "percent", maximumFractionDigits: 0 });
  const twoPlaces = new Intl.NumberFormat("en", { maximumFractionDigits: 2, minimumFractionDigits: 2 });
  const dateFormat = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", year: "numeric" });
  const dateTimeFormat = new Intl.DateTimeFormat("en-GB", {
    day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
  });
  // A chosen day is a UTC day (its moment is the day's end in UTC): said in UTC, so that a
  // person west or east of Greenwich sees the day they chose.
  const dayFormat = new Intl.DateTimeFormat("en-GB", {
    day: "numeric", month: "short", year: "numeric", timeZone: "UTC",
  });
  const EARLIEST_DAY = "1970-01-01";

  const typeColours = new Map(Object.entries(DEFAULT_TYPE_COLOURS));
  // playbookVersions: the tenant's newest versions as last read, oldest first (the last one
  // is the active one); worklistAsked and customerAsked: the newest worklist and customer
  // requests, so that an older answer arriving late is not drawn over a newer one. asOfDay:
  // the day chosen in the "As of" control ("" for now); asOf: the moment the board asks the
  // graph for (that day's end in UTC), null for now (no day, or today, which has not ended).
  const state = {
    key: null, customerId: null, timelineDays: 365, generation: 0, playbookVersions: [], worklistAsked: 0,
    customerAsked: 0, asOfDay: "", asOf: null,
  };

  // ---------------------------------------------------------------- talking to the graph

  /** A failure the person must read: `words` are plain, `code` the gateway's (if any). */
  class Problem extends Error {
    constructor(words, code = "", fatal = false) {
      super(words);
      this.code = code;
      this.fatal = fatal;
    }
  }

  function codeOf(error) {
    return (error && error.extensions && error.extensions.code) || "";
  }

  /** One GraphQL error of the gateway, in words a person understands. */
  function inPlainWords(error) {
    const code = codeOf(error);
    const message = String((error && error.message) || "no reason given");
    const where = Array.isArray(error && error.path) && error.path.length
      ? ` (in ${error.path.join(" › ")})` : "";
    const ext = (error && error.extensions) || {};
    switch (code) {
      case "UNAUTHENTICATED":
        return `The gateway did not accept the key: ${message}. Enter a key with the graph:read scope.`;
      case "FORBIDDEN":
        return `This key may not see this${where}: ${message}.`;
      case "UPSTREAM_UNAVAILABLE":
        return `The ${ext.service || "backing"} service did not answer (${ext.status || "unavailable"}), ` +
          `so this part is missing${where}; the rest is shown. Try again in a moment.`;
      case "QUERY_TOO_COSTLY":
        return `The gateway refused the question as too costly (cost ${ext.cost ?? "?"}): ${message}.`;
      case "TIMEOUT":
        return `The gateway gave up waiting for an answer: ${message}. Try again in a moment.`;
      case "BAD_INPUT":
        return `The gateway refused the question${where}: ${message}.`;
      default:
        if (message.startsWith("Cannot query field")) {
          return `This gateway does not offer what the console asks for yet (${message}) — ` +
            "it may be older than the console.";
        }
        return `The gateway reported a problem${where}: ${message}${code ? ` [${code}]` : ""}.`;
    }
  }

  /** POST a query; resolves to {data, errors} (errors a list of plain sentences). Throws a
   * Problem when there is no answer to show at all; a rejected key is fatal. */
  async function ask(query, variables = {}) {
    let response;
    try {
      response = await fetch("/graphql", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${state.key}` },
        body: JSON.stringify({ query, variables }),
        cache: "no-store",
        credentials: "omit",
      });
    } catch (error) {
      throw new Problem(`The gateway could not be reached (${error.message}). Is it running?`);
    }
    const text = await response.text();
    let body = null;
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
    const errors = body && Array.isArray(body.errors) ? body.errors : [];
    const refused = errors.find((e) => codeOf(e) === "UNAUTHENTICATED");
    if (response.status === 401 || response.status === 403 || refused) {
      const reason = refused ? refused.message : (body && body.detail) || `HTTP ${response.status}`;
      throw new Problem(
        `The gateway did not accept the key: ${reason}. Enter a key with the graph:read scope.`,
        "UNAUTHENTICATED", true);
    }
    if (!response.ok) {
      if (errors.length) throw new Problem(errors.map(inPlainWords).join(" "), codeOf(errors[0]));
      const detail = body && body.detail ? `: ${typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)}` : "";
      throw new Problem(`The gateway answered HTTP ${response.status}${detail}.`, `HTTP_${response.status}`);
    }
    if (!body || typeof body !== "object") {
      throw new Problem("The gateway's answer was not JSON; is this the relint gateway?");
    }
    return {
      data: body.data || null,
      errors: errors.map((e) => ({ code: codeOf(e), words: inPlainWords(e), path: Array.isArray(e.path) ? e.path : [] })),
    };
  }

  // ---------------------------------------------------------------- small DOM helpers

  function $(id) {
    return document.getElementById(id);
  }

  function html(tag, options = {}, ...children) {
    const node = document.createElement(tag);
    if (options.className) node.className = options.className;
    if (options.text !== undefined && options.text !== null) node.textContent = String(options.text);
    if (options.title) node.title = options.title;
    for (const [name, value] of Object.entries(options.data || {})) node.dataset[name] = String(value);
    for (const [name, value] of Object.entries(options.attrs || {})) node.setAttribute(name, String(value));
    for (const child of children) if (child) node.append(child);
    return node;
  }

  function svg(tag, attrs = {}, parent = null) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
    if (parent) parent.append(node);
    return node;
  }

  function svgText(parent, x, y, text, attrs = {}) {
    const node = svg("text", { x, y, ...attrs }, parent);
    node.textContent = text;
    return node;
  }

  function titled(node, text) {
    svg("title", {}, node).textContent = text;
    return node;
  }

  function showPanelProblems(panel, problems) {
    const box = document.querySelector(`[data-problems-for="${panel}"]`);
    box.replaceChildren(...problems.map((p) => html("p", {
      className: "problem", text: p.words, data: { code: p.code || "" },
    })));
  }

  function showFatal(words) {
    // A key the gateway refused is not kept for the next load.
    sessionStorage.removeItem(KEY_STORAGE);
    state.key = null;
    $("problems").replaceChildren(html("p", { className: "problem fatal", text: words }));
    $("key-state").textContent = "No key in use.";
    $("board").hidden = true;
  }

  function typeColour(type) {
    if (!type) return UNPLACED_COLOUR;
    if (!typeColours.has(type)) {
      typeColours.set(type, MORE_TYPE_COLOURS[(typeColours.size - 4) % MORE_TYPE_COLOURS.length]);
    }
    return typeColours.get(type);
  }

  function typeLabel(type) {
    return type || "not yet placed";
  }

  function stageLabel(stage) {
    return stage || "not yet evaluated";
  }

  function chip(text, className, colour) {
    const node = html("span", { className: `chip ${className}`, text });
    if (colour) node.style.setProperty("--chip", colour);
    return node;
  }

  function typeChip(type) {
    return chip(typeLabel(type), "type-chip", typeColour(type));
  }

  function stageChip(stage, comingApart) {
    const node = chip(stageLabel(stage), `stage-chip${comingApart ? " apart" : ""}`);
    if (comingApart) node.title = "coming apart";
    return node;
  }

  function when(iso) {
    return iso ? dateFormat.format(new Date(iso)) : "—";
  }

  function customerLink(id, label) {
    const link = html("button", { className: "customer-link", text: label, data: { customerId: id } });
    link.type = "button";
    link.addEventListener("click", () => openCustomer(id));
    return link;
  }

  const tooltip = () => $("tooltip");

  function attachTooltip(node, lines) {
    node.addEventListener("mouseenter", (event) => {
      const tip = tooltip();
      tip.replaceChildren(...lines.map((line, i) => html(i ? "div" : "strong", { text: line })));
      tip.hidden = false;
      placeTooltip(event);
    });
    node.addEventListener("mousemove", placeTooltip);
    node.addEventListener("mouseleave", () => {
      tooltip().hidden = true;
    });
  }

  function placeTooltip(event) {
    const tip = tooltip();
    const x = Math.min(event.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
    const y = Math.min(event.clientY + 14, window.innerHeight - tip.offsetHeight - 8);
    tip.style.left = `${Math.max(x, 4)}px`;
    tip.style.top = `${Math.max(y, 4)}px`;
  }

  // ---------------------------------------------------------------- scales

  /** Square-root axes, so that the many small customers do not sit on one pixel while the
   * few large ones stay on the map; signed, for a negative profit or revenue. */
  function sqrtScale(domainMax, domainMin, pixels) {
    const f = (v) => Math.sign(v) * Math.sqrt(Math.abs(v));
    const lo = f(Math.min(domainMin, 0));
    const hi = f(Math.max(domainMax, 1));
    const scale = (v) => ((f(v) - lo) / (hi - lo)) * pixels;
    scale.ticks = (minGap) => {
      const out = [];
      let last = -Infinity;
      for (let exp = 0; exp < 12; exp += 1) {
        for (const m of [1, 2, 5]) {
          const v = m * 10 ** exp;
          if (v > Math.max(domainMax, 1)) return [0, ...out];
          if (scale(v) - last >= minGap && scale(v) >= minGap) {
            out.push(v);
            last = scale(v);
          }
        }
      }
      return [0, ...out];
    };
    return scale;
  }

  function linearScale(lo, hi, pixels) {
    const span = hi - lo || 1;
    return (v) => ((v - lo) / span) * pixels;
  }

  function compact(value) {
    // A tick summed in floating point may land a hair off zero: never show "-0".
    const v = Math.abs(value) < 1e-9 ? 0 : value;
    const abs = Math.abs(v);
    if (abs >= 1e6) return `${decimal.format(v / 1e6)}M`;
    if (abs >= 1e3) return `${number.format(v / 1e3)}k`;
    return number.format(v);
  }

  // ---------------------------------------------------------------- portfolio

  async function loadPortfolio(generation) {
    const asOf = state.asOf;
    let answer;
    try {
      answer = await ask(PORTFOLIO_QUERY, { asOf });
    } catch (problem) {
      if (generation !== state.generation) return;
      return failPanels(problem, ["portfolio", "funnel"], ["value-map", "stage-funnel"], asOf);
    }
    if (generation !== state.generation) return;
    showPanelProblems("portfolio", answer.errors);
    showPanelProblems("funnel", answer.errors);
    const portfolio = answer.data && answer.data.portfolio;
    if (!portfolio) {
      for (const id of ["value-map", "stage-funnel"]) {
        $(id).dataset.state = "failed";
        $(id).dataset.asOf = asOf || "";
        $(id).textContent = "Nothing to show.";
      }
      return;
    }
    const shown = portfolio.points.length < portfolio.customerCount
      ? ` (the ${number.format(portfolio.points.length)} largest on the map)` : "";
    const count = $("portfolio-count");
    count.textContent = `${number.format(portfolio.customerCount)} customers${shown}`;
    count.dataset.customers = String(portfolio.customerCount);
    for (const id of ["value-map", "stage-funnel"]) $(id).dataset.asOf = asOf || "";
    for (const t of portfolio.types) typeColour(t.relationshipType);
    drawValueMap(portfolio);
    drawLegend(portfolio);
    drawTypeTable(portfolio);
    drawPareto(portfolio.pareto);
    drawFunnel(portfolio.stages);
  }

  function failPanels(problem, panels, charts, asOf = null) {
    if (problem.fatal) return showFatal(problem.message);
    for (const panel of panels) showPanelProblems(panel, [{ code: problem.code, words: problem.message }]);
    for (const id of charts) {
      $(id).dataset.state = "failed";
      $(id).dataset.asOf = asOf || "";
      $(id).replaceChildren(html($(id).tagName === "OL" ? "li" : "p", { text: "Nothing to show." }));
    }
    return undefined;
  }

  function drawValueMap(portfolio) {
    const host = $("value-map");
    const points = portfolio.points;
    const W = 640;
    const H = 420;
    const M = { left: 64, right: 16, top: 14, bottom: 46 };
    const w = W - M.left - M.right;
    const h = H - M.top - M.bottom;
    const costs = points.map((p) => p.costToServe);
    const revenues = points.map((p) => p.revenue);
    // Headroom, so that the largest customers' dots are not cut by the frame.
    const x = sqrtScale(Math.max(1, ...costs) * 1.04, Math.min(0, ...costs), w);
    const y = sqrtScale(Math.max(1, ...revenues) * 1.06, Math.min(0, ...revenues), h);
    const chart = svg("svg", {
      viewBox: `0 0 ${W} ${H}`, class: "value-map", role: "img",
      "aria-label": `Value map: ${points.length} customers, cost to serve against revenue`,
    });
    const plot = svg("g", { transform: `translate(${M.left},${M.top})` }, chart);
    const grid = svg("g", { class: "grid" }, plot);
    for (const t of x.ticks(44)) {
      svg("line", { x1: x(t), x2: x(t), y1: 0, y2: h }, grid);
      svgText(grid, x(t), h + 16, compact(t), { class: "tick", "text-anchor": "middle" });
    }
    for (const t of y.ticks(26)) {
      svg("line", { x1: 0, x2: w, y1: h - y(t), y2: h - y(t) }, grid);
      svgText(grid, -8, h - y(t) + 4, compact(t), { class: "tick", "text-anchor": "end" });
    }
    svgText(plot, w / 2, h + 38, "cost to serve →", { class: "axis-label", "text-anchor": "middle" });
    svgText(plot, -h / 2, -50, "revenue →", {
      class: "axis-label", "text-anchor": "middle", transform: "rotate(-90)",
    });
    // Above this line a customer brings more than it costs.
    const even = Math.min(Math.max(1, ...costs), Math.max(1, ...revenues));
    const breakEven = svg("line", {
      class: "break-even", x1: x(0), y1: h - y(0), x2: x(even), y2: h - y(even),
    }, plot);
    titled(breakEven, "break-even: revenue equals cost to serve");
    svgText(plot, x(even) - 4, h - y(even) + 14, "break-even", { class: "break-even-label", "text-anchor": "end" });

    const dots = svg("g", { class: "dots" }, plot);
    // Small customers last, so that they are drawn over the large ones' dots.
    const ordered = [...points].sort((a, b) => b.revenue - a.revenue);
    for (const p of ordered) {
      // Ingest may no longer know a name: the id stands in.
      const name = p.name || `customer ${p.customerId}`;
      const dot = svg("circle", {
        class: "dot", r: 5, cx: x(p.costToServe).toFixed(1), cy: (h - y(p.revenue)).toFixed(1),
        fill: typeColour(p.relationshipType), "data-customer-id": p.customerId,
        "data-type": p.relationshipType, tabindex: 0, role: "button",
        "aria-label": `${name}, ${typeLabel(p.relationshipType)}`,
      }, dots);
      const lines = [
        name,
        typeLabel(p.relationshipType),
        `revenue ${number.format(p.revenue)}`,
        `cost to serve ${number.format(p.costToServe)}`,
        `profit ${number.format(p.profit)}`,
      ];
      titled(dot, lines.join("\n"));
      attachTooltip(dot, lines);
      dot.addEventListener("click", () => openCustomer(p.customerId));
      dot.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") openCustomer(p.customerId);
      });
    }
    host.replaceChildren(chart);
    host.dataset.state = "ready";
  }

  function drawLegend(portfolio) {
    const legend = $("type-legend");
    const counts = new Map(portfolio.types.map((t) => [t.relationshipType, t.customers]));
    for (const p of portfolio.points) if (!counts.has(p.relationshipType)) counts.set(p.relationshipType, 0);
    legend.replaceChildren();
    for (const [type, customers] of counts) {
      const swatch = html("span", { className: "swatch" });
      swatch.style.backgroundColor = typeColour(type);
      const item = html("li", { data: { type } },
        html("button", { className: "legend-item", attrs: { type: "button", "aria-pressed": "false" } },
          swatch, html("span", { className: "legend-name", text: typeLabel(type) }),
          html("span", { className: "legend-count", text: number.format(customers) })));
      item.firstChild.addEventListener("click", () => highlightType(type, item.firstChild));
      legend.append(item);
    }
  }

  function highlightType(type, button) {
    const on = button.getAttribute("aria-pressed") !== "true";
    for (const b of document.querySelectorAll(".legend-item")) b.setAttribute("aria-pressed", "false");
    button.setAttribute("aria-pressed", String(on));
    for (const dot of document.querySelectorAll("#value-map .dot")) {
      dot.classList.toggle("dim", on && dot.dataset.type !== type);
    }
  }

  function drawTypeTable(portfolio) {
    const table = $("type-table");
    const head = html("tr", {}, ...["relationship type", "customers", "revenue a customer", "cost to serve a customer", "profit a customer"]
      .map((label) => html("th", { text: label, attrs: { scope: "col" } })));
    const rows = portfolio.types.map((t) => {
      const swatch = html("span", { className: "swatch" });
      swatch.style.backgroundColor = typeColour(t.relationshipType);
      return html("tr", { data: { type: t.relationshipType } },
        html("th", { attrs: { scope: "row" } }, swatch, document.createTextNode(typeLabel(t.relationshipType))),
        html("td", { text: number.format(t.customers) }),
        html("td", { text: number.format(t.revenue) }),
        html("td", { text: number.format(t.costToServe) }),
        html("td", { text: number.format(t.profit), className: t.profit < 0 ? "negative" : "" }));
    });
    table.replaceChildren(html("thead", {}, head), html("tbody", {}, ...rows));
  }

  function drawPareto(pareto) {
    const node = $("pareto");
    if (!pareto) {
      node.textContent = "";
      return;
    }
    node.textContent = `The top ${percent.format(pareto.topShare)} of customers bring ` +
      `${percent.format(pareto.revenueShare)} of the revenue and ${percent.format(pareto.profitShare)} of the profit.`;
  }

  function drawFunnel(stages) {
    const host = $("stage-funnel");
    const byStage = new Map(stages.map((s) => [s.stage, s]));
    const rows = STAGES.map((stage) => byStage.get(stage) || {
      stage, customers: 0, comingApart: COMING_APART.includes(stage),
    });
    for (const s of stages) if (!STAGES.includes(s.stage)) rows.push(s);
    const W = 360;
    const rowH = 26;
    const labelW = 118;
    const gap = 16;
    const H = rows.length * rowH + gap + 8;
    const max = Math.max(1, ...rows.map((r) => r.customers));
    const bar = linearScale(0, max, W - labelW - 44);
    const chart = svg("svg", {
      viewBox: `0 0 ${W} ${H}`, class: "funnel", role: "img", "aria-label": "Customers per stage",
    });
    let y = 4;
    rows.forEach((row, i) => {
      if (i === COMING_TOGETHER.length) {
        svg("line", { class: "divider", x1: 0, x2: W, y1: y + gap / 2 - 2, y2: y + gap / 2 - 2 }, chart);
        svgText(chart, W - 2, y + gap / 2 - 5, "coming apart ↓", { class: "divider-label", "text-anchor": "end" });
        y += gap;
      }
      const g = svg("g", {
        class: `stage-row${row.comingApart ? " apart" : ""}`, "data-stage": row.stage,
        "data-customers": row.customers, "data-coming-apart": String(Boolean(row.comingApart)),
      }, chart);
      svgText(g, labelW - 8, y + rowH / 2 + 4, stageLabel(row.stage), { class: "stage-label", "text-anchor": "end" });
      const rect = svg("rect", {
        class: "bar", x: labelW, y: y + 4, height: rowH - 8, width: Math.max(bar(row.customers), row.customers ? 2 : 0), rx: 3,
      }, g);
      titled(rect, `${stageLabel(row.stage)}: ${row.customers} customers${row.comingApart ? " (coming apart)" : ""}`);
      svgText(g, labelW + bar(row.customers) + 6, y + rowH / 2 + 4, number.format(row.customers), { class: "bar-count" });
      y += rowH;
    });
    host.replaceChildren(chart);
    host.dataset.state = "ready";
  }

  // ---------------------------------------------------------------- at risk and alerts

  async function loadAtRisk(generation) {
    const list = $("at-risk-list");
    const asOf = state.asOf;
    let answer;
    try {
      answer = await ask(AT_RISK_QUERY, { asOf });
    } catch (problem) {
      if (generation !== state.generation) return;
      return failPanels(problem, ["at-risk"], ["at-risk-list"], asOf);
    }
    if (generation !== state.generation) return;
    showPanelProblems("at-risk", answer.errors);
    const customers = (answer.data && answer.data.atRisk) || [];
    if (!customers.length) {
      const nobody = asOf ? `No customer was at risk ${momentWords(asOf)}.` : "No customer is at risk.";
      list.replaceChildren(html("li", { className: "empty", text: answer.errors.length ? "Nothing to show." : nobody }));
    } else {
      list.replaceChildren(...customers.map(riskItem));
    }
    list.dataset.asOf = asOf || "";
    list.dataset.state = answer.data ? "ready" : "failed";
  }

  function riskItem(customer) {
    const r = customer.relationship;
    const item = html("li", { className: "risk-item", data: { customerId: customer.customerId } });
    const head = html("div", { className: "risk-head" }, customerLink(customer.customerId, customer.name));
    if (r) {
      const meter = html("span", { className: "meter", title: `risk ${percent.format(r.risk)}` }, html("span"));
      meter.firstChild.style.width = `${Math.round(r.risk * 100)}%`;
      head.append(html("span", { className: "risk-figure", text: percent.format(r.risk) }), meter);
      item.append(head, html("div", { className: "chips" }, typeChip(r.relationshipType), stageChip(r.stage, r.comingApart)));
      const reasons = html("ul", { className: "reasons" }, ...r.riskReasons.map((reason) => html("li", { text: reason })));
      item.append(reasons);
    } else {
      item.append(head, html("p", { className: "hint", text: "No relationship scored yet." }));
    }
    return item;
  }

  async function loadAlerts(generation) {
    const list = $("alert-list");
    const asOf = state.asOf;
    let answer;
    try {
      answer = await ask(ALERTS_QUERY, { asOf });
    } catch (problem) {
      if (generation !== state.generation) return;
      return failPanels(problem, ["alerts"], ["alert-list"], asOf);
    }
    if (generation !== state.generation) return;
    const alerts = (answer.data && answer.data.alerts) || [];
    let names;
    try {
      names = await customerNames([...new Set(alerts.map((a) => a.customerId))]);
    } catch (problem) {
      if (generation !== state.generation) return;
      return failPanels(problem, ["alerts"], ["alert-list"], asOf);
    }
    if (generation !== state.generation) return;
    showPanelProblems("alerts", [...answer.errors, ...names.errors]);
    if (!alerts.length) {
      const none = asOf ? `No alert was open ${momentWords(asOf)}.` : "No open alert.";
      list.replaceChildren(html("li", { className: "empty", text: answer.errors.length ? "Nothing to show." : none }));
    } else {
      list.replaceChildren(...alerts.map((a) => alertItem(a, names.byId.get(a.customerId), true, asOf)));
    }
    list.dataset.asOf = asOf || "";
    list.dataset.state = answer.data ? "ready" : "failed";
  }

  /** The names of up to 20 customers, in one request (aliases, the ids as variables). */
  async function customerNames(ids) {
    const byId = new Map();
    if (!ids.length) return { byId, errors: [] };
    const chosen = ids.slice(0, 20);
    const params = chosen.map((_, i) => `$c${i}: ID`).join(", ");
    const fields = chosen.map((_, i) => `c${i}: customer(id: $c${i}) { customerId name }`).join("\n");
    const variables = Object.fromEntries(chosen.map((id, i) => [`c${i}`, id]));
    try {
      const answer = await ask(`query ConsoleNames(${params}) {\n${fields}\n}`, variables);
      for (const customer of Object.values(answer.data || {})) {
        if (customer) byId.set(customer.customerId, customer.name);
      }
      return { byId, errors: answer.errors };
    } catch (problem) {
      if (problem.fatal) throw problem;
      return { byId, errors: [{ code: problem.code, words: problem.message }] };
    }
  }

  /** An alert; `asOf` (a past moment) shows it as it stood then, without the Acknowledge
   * button: acknowledging is about now. */
  function alertItem(alert, name, withCustomer = true, asOf = null) {
    const item = html("li", {
      className: `alert-item severity-${alert.severity}`, data: { alertId: alert.id, kind: alert.kind },
    });
    const head = html("div", { className: "alert-head" },
      html("span", { className: `severity ${alert.severity}`, text: alert.severity }),
      html("span", { className: "alert-kind", text: alert.kind.replaceAll("_", " ") }),
      html("time", { text: when(alert.raisedAt), title: dateTimeFormat.format(new Date(alert.raisedAt)), attrs: { datetime: alert.raisedAt } }));
    item.append(head);
    if (withCustomer) item.append(customerLink(alert.customerId, name || `customer ${alert.customerId}`));
    item.append(html("p", { className: "alert-reason", text: alert.reason }));
    if (alert.acknowledgedAt) {
      item.append(html("p", { className: "hint", text: `acknowledged ${when(alert.acknowledgedAt)}` }));
    } else if (asOf) {
      item.append(html("p", { className: "hint open-then", text: `open ${momentWords(asOf)}` }));
    } else {
      const button = html("button", { className: "quiet acknowledge", text: "Acknowledge", attrs: { type: "button" } });
      button.addEventListener("click", () => acknowledge(alert, item, button));
      item.append(button);
    }
    return item;
  }

  async function acknowledge(alert, item, button) {
    button.disabled = true;
    let words = null;
    try {
      const answer = await ask(ACKNOWLEDGE_MUTATION, { id: alert.id });
      const result = answer.data && answer.data.acknowledgeAlert;
      if (answer.errors.length) words = answer.errors.map((e) => e.words).join(" ");
      else if (!result) words = "The gateway gave no answer.";
      else if (result.__typename === "NotAllowed") words = `This key may not acknowledge alerts (it needs the graph:write scope): ${result.message}`;
      else if (result.__typename === "NotFound") words = `The alert is gone: ${result.message}`;
    } catch (problem) {
      if (problem.fatal) return showFatal(problem.message);
      words = problem.message;
    }
    if (words) {
      item.append(html("p", { className: "problem", text: words }));
      button.disabled = false;
    } else {
      item.classList.add("acknowledged");
      button.replaceWith(html("p", { className: "hint", text: "acknowledged just now" }));
    }
    return undefined;
  }

  // ---------------------------------------------------------------- playbook and worklist

  async function loadPlaybook(generation) {
    let answer;
    try {
      answer = await ask(PLAYBOOK_QUERY);
    } catch (problem) {
      if (generation !== state.generation) return;
      return failPanels(problem, ["playbook"], ["standards", "worklist"]);
    }
    if (generation !== state.generation) return;
    showPanelProblems("playbook", answer.errors);
    const versions = (answer.data && answer.data.playbookVersions) || [];
    state.playbookVersions = versions;
    const active = versions[versions.length - 1];
    const select = $("playbook-version");
    // Newest first: the active version is the one a person most often wants.
    select.replaceChildren(...[...versions].reverse().map((p) => html("option", {
      text: versionLabel(p, p === active), attrs: { value: p.version },
    })));
    if (!active) {
      $("playbook-active").textContent = "";
      $("standards").dataset.state = "failed";
      $("standards").replaceChildren(html("p", { text: "Nothing to show." }));
      $("worklist").dataset.state = "failed";
      $("worklist").replaceChildren(html("li", { text: "Nothing to show." }));
      return undefined;
    }
    $("playbook-active").textContent = `“${active.name}”, version ${active.version}` +
      (active.createdAt ? `, published ${when(active.createdAt)}` : " (the default)");
    const teamSelect = $("worklist-team");
    const chosenTeam = teamSelect.value;
    const teams = [...new Set(active.standards.map((s) => s.team))].sort();
    teamSelect.replaceChildren(html("option", { text: "every team", attrs: { value: "" } }),
      ...teams.map((team) => html("option", { text: team, attrs: { value: team } })));
    teamSelect.value = teams.includes(chosenTeam) ? chosenTeam : "";
    drawStandards(active);
    return loadWorklist(generation);
  }

  function versionLabel(playbook, active) {
    const published = playbook.createdAt ? `published ${when(playbook.createdAt)}` : "the default";
    return `version ${playbook.version} — ${published}${active ? " (active)" : ""}`;
  }

  function showVersion() {
    const chosen = Number($("playbook-version").value);
    const playbook = state.playbookVersions.find((p) => p.version === chosen);
    if (playbook) drawStandards(playbook);
  }

  function drawStandards(playbook) {
    const host = $("standards");
    $("playbook-published").textContent = playbook.createdAt
      ? `“${playbook.name}”, published ${dateTimeFormat.format(new Date(playbook.createdAt))}`
      : `“${playbook.name}”: the default playbook, followed until the company publishes its own`;
    const everyone = (list, what) => (list.length ? list.join(", ") : `every ${what}`);
    const rows = playbook.standards.map((s) => html("tr", { data: { standardKey: s.key } },
      html("td", { text: s.title }),
      html("td", { text: s.team }),
      html("td", { text: everyone(s.relationshipTypes, "type") }),
      html("td", { text: everyone(s.stages, "stage") }),
      html("td", { className: "rule", text: s.rule })));
    if (!rows.length) rows.push(html("tr", {}, html("td", { text: "No standard.", attrs: { colspan: 5 } })));
    const head = html("tr", {}, ...["Standard", "Team", "Types", "Stages", "Rule"].map((t) => html("th", { text: t })));
    host.replaceChildren(html("table", { className: "figures standards-table" },
      html("thead", {}, head), html("tbody", {}, ...rows)));
    host.dataset.state = "ready";
    host.dataset.version = String(playbook.version);
  }

  async function loadWorklist(generation) {
    const list = $("worklist");
    state.worklistAsked += 1;
    const asked = state.worklistAsked;
    const team = $("worklist-team").value;
    const current = () => generation === state.generation && asked === state.worklistAsked;
    list.dataset.state = "loading";
    let answer;
    let names;
    try {
      answer = await ask(WORKLIST_QUERY, { team: team || null });
      const actions = (answer.data && answer.data.worklist) || [];
      names = await customerNames([...new Set(actions.map((a) => a.customerId))]);
    } catch (problem) {
      if (!current()) return undefined;
      return failPanels(problem, ["playbook"], ["worklist"]);
    }
    if (!current()) return undefined;
    showPanelProblems("playbook", [...answer.errors, ...names.errors]);
    const actions = (answer.data && answer.data.worklist) || [];
    const now = Date.now();
    list.replaceChildren(...actions.map((a) => {
      const meter = html("span", { className: "meter small", title: `urgency ${percent.format(a.urgency)}` }, html("span"));
      meter.firstChild.style.width = `${Math.round(a.urgency * 100)}%`;
      const overdue = a.dueAt && new Date(a.dueAt).getTime() < now;
      const due = a.dueAt ? html("span", {
        className: overdue ? "overdue" : "", text: `${overdue ? "overdue since" : "due"} ${when(a.dueAt)}`,
        title: dateTimeFormat.format(new Date(a.dueAt)),
      }) : null;
      return html("li", { className: "action", data: { customerId: a.customerId, standardKey: a.standardKey || "" } },
        html("div", { className: "action-head" }, html("strong", { text: a.title }), meter),
        customerLink(a.customerId, names.byId.get(a.customerId) || `customer ${a.customerId}`),
        html("p", { text: a.reason }),
        html("p", { className: "hint" }, due, a.employee ? document.createTextNode(`${due ? " · " : ""}for ${a.employee}`) : null));
    }));
    if (!actions.length) {
      const nobody = team ? `Nothing owed by ${team} now.` : "Nothing owed now.";
      list.append(html("li", { className: "empty", text: answer.errors.length ? "Nothing to show." : nobody }));
    }
    list.dataset.state = answer.data ? "ready" : "failed";
    list.dataset.team = team;
    return undefined;
  }

  // ---------------------------------------------------------------- one customer

  /** Open a customer as of the board's moment; `scroll`: bring the panel into view (a click,
   * not a reload of the board). */
  async function openCustomer(customerId, scroll = true) {
    state.customerId = customerId;
    state.customerAsked += 1;
    const asked = state.customerAsked;
    const asOf = state.asOf;
    const current = () => asked === state.customerAsked;
    const view = $("customer-view");
    view.dataset.state = "loading";
    view.replaceChildren(html("p", { className: "hint", text: "Loading…" }));
    if (scroll) $("customer").scrollIntoView({ behavior: "smooth", block: "start" });
    // The timeline and the explanation end at the board's moment.
    const end = asOf ? Date.parse(asOf) : Date.now();
    const start = new Date(end - state.timelineDays * 86400000).toISOString();
    let answer;
    try {
      answer = await ask(CUSTOMER_QUERY, { id: customerId, start, asOf });
    } catch (problem) {
      if (!current()) return undefined;
      if (problem.fatal) return showFatal(problem.message);
      showPanelProblems("customer", [{ code: problem.code, words: problem.message }]);
      view.dataset.state = "failed";
      view.dataset.asOf = asOf || "";
      view.replaceChildren();
      return undefined;
    }
    if (!current()) return undefined;
    showPanelProblems("customer", answer.errors);
    const customer = answer.data && answer.data.customer;
    view.dataset.asOf = asOf || "";
    if (!customer) {
      view.dataset.state = "failed";
      view.replaceChildren(html("p", { className: "hint", text: answer.errors.length ? "Nothing to show." : "This key's tenant has no such customer." }));
      return undefined;
    }
    view.replaceChildren(...drawCustomer(customer, asOf));
    view.dataset.state = "ready";
    view.dataset.customerId = customer.customerId;
    // The moment the timeline and the explanation start from, as asked of the graph.
    view.dataset.start = start;
    return undefined;
  }

  function figure(label, value, className = "") {
    return html("div", { className: `figure ${className}` },
      html("span", { className: "figure-value", text: value }), html("span", { className: "figure-label", text: label }));
  }

  /** The customer as of `asOf` (null: now): what the graph keeps of the past (the
   * relationship, its timeline and explanation, alerts, interactions) as of then; what it
   * knows only now (next best actions, the playbook's obligations and violations,
   * lookalikes) said to be now. */
  function drawCustomer(c, asOf) {
    const r = c.relationship;
    const interactions = ((c.interactions && c.interactions.edges) || []).map((edge) => edge.node);
    const parts = [];
    const counted = asOf
      ? `${number.format(r ? r.interactionCount : 0)} interactions by ${dayWords(asOf)}`
      : `${number.format(c.interactionCount)} interactions since ${when(c.firstSeenAt)}`;
    const head = html("div", { className: "customer-head" },
      html("h3", { className: "customer-name", text: c.name }),
      html("span", { className: "hint", text: `${c.externalId} · ${counted}` }));
    parts.push(head);
    if (!r) {
      parts.push(html("p", { className: "hint", text: asOf
        ? `Scoring had not applied an interaction of this customer by ${dayWords(asOf)}.`
        : "Scoring has not applied an interaction of this customer yet." }));
      parts.push(similarSection(c.similarCustomers, asOf));
      parts.push(interactionSection(interactions, asOf));
      return parts;
    }
    head.append(html("div", { className: "chips" }, typeChip(r.relationshipType), stageChip(r.stage, r.comingApart)));
    parts.push(html("div", { className: "figures-row" },
      figure("Relationship Value", decimal.format(r.value), "value"),
      figure("30 days", `${r.trend >= 0 ? "+" : ""}${decimal.format(r.trend)}`, r.trend < 0 ? "negative" : "positive"),
      figure("last change", `${r.lastContribution >= 0 ? "+" : ""}${decimal.format(r.lastContribution)}`, r.lastContribution < 0 ? "negative" : "positive"),
      figure("risk of ending", percent.format(r.risk), r.risk >= 0.5 ? "negative" : ""),
      figure("potential a year", r.potential === null || r.potential === undefined ? "—" : number.format(r.potential))));
    const why = html("div", { className: "why" });
    if (r.typeReason) why.append(html("p", {}, html("strong", { text: `${typeLabel(r.relationshipType)}: ` }), document.createTextNode(r.typeReason)));
    if (r.stageReason) why.append(html("p", {}, html("strong", { text: `${stageLabel(r.stage)}: ` }), document.createTextNode(r.stageReason)));
    if (r.riskReasons.length) {
      why.append(html("p", {}, html("strong", { text: "Risk: " })),
        html("ul", { className: "reasons risk-reasons" }, ...r.riskReasons.map((reason) => html("li", { text: reason }))));
    }
    parts.push(why);
    parts.push(timelineSection(r, interactions));
    parts.push(explanationSection(r.explanation, r.timeline, asOf));
    parts.push(html("div", { className: "columns" },
      actionsSection(c.nextBestActions || [], asOf), customerAlertsSection(c.alerts || [], asOf),
      playbookSection(c.obligations || [], c.violations || [], asOf)));
    parts.push(similarSection(c.similarCustomers, asOf));
    parts.push(interactionSection(interactions, asOf));
    return parts;
  }

  /** While looking back, a section the graph knows only now says so; null otherwise. */
  function nowNote(asOf, why) {
    if (!asOf) return null;
    return html("p", { className: "look-back-note", text: `Shows now, not ${dayWords(asOf)}: ${why}` });
  }

  function timelineSection(r, interactions) {
    const section = html("section", { className: "sub timeline-section" });
    const ranges = html("div", { className: "ranges", attrs: { role: "group", "aria-label": "Period" } });
    for (const [label, days] of Object.entries(TIMELINE_RANGES)) {
      const button = html("button", { className: "quiet", text: label, attrs: { type: "button", "aria-pressed": String(days === state.timelineDays) } });
      button.addEventListener("click", () => {
        state.timelineDays = days;
        openCustomer(state.customerId);
      });
      ranges.append(button);
    }
    section.append(html("div", { className: "sub-head" }, html("h4", { text: "Relationship Value over time" }), ranges));
    section.append(drawTimeline(r.timeline, interactions, r.explanation.drivers));
    section.append(html("p", { className: "hint", text: "Dots mark the most recent interactions (green warm, red cold, grey neutral); triangles the interactions that moved the value most over the period (▲ up, ▼ down); red bands are periods in a coming-apart stage. Point at a mark for the interaction." }));
    return section;
  }

  function drawTimeline(points, interactions, drivers) {
    const host = html("div", { className: "chart timeline", data: { points: points.length } });
    if (points.length < 2) {
      host.append(html("p", { className: "hint", text: "Not enough history to draw." }));
      return host;
    }
    const W = 900;
    const H = 260;
    const M = { left: 48, right: 14, top: 12, bottom: 30 };
    const w = W - M.left - M.right;
    const h = H - M.top - M.bottom;
    const times = points.map((p) => Date.parse(p.at));
    const t0 = times[0];
    const t1 = times[times.length - 1];
    const values = points.map((p) => p.value);
    const lo = Math.min(0, ...values);
    const hi = Math.max(1, ...values);
    const pad = (hi - lo) * 0.08;
    const x = linearScale(t0, t1, w);
    const yRaw = linearScale(lo - pad, hi + pad, h);
    const y = (v) => h - yRaw(v);
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "timeline-chart", role: "img", "aria-label": "Relationship Value over time" });
    const plot = svg("g", { transform: `translate(${M.left},${M.top})` }, chart);
    // Periods in a coming-apart stage.
    points.forEach((p, i) => {
      if (!COMING_APART.includes(p.stage) || i === points.length - 1) return;
      const band = svg("rect", { class: "apart-band", x: x(times[i]), y: 0, width: Math.max(x(times[i + 1]) - x(times[i]), 1), height: h }, plot);
      titled(band, `${p.stage} (coming apart)`);
    });
    const grid = svg("g", { class: "grid" }, plot);
    const step = niceStep((hi - lo) / 5);
    for (let k = Math.ceil((lo - pad) / step); k * step <= hi + pad; k += 1) {
      const v = k * step;
      svg("line", { x1: 0, x2: w, y1: y(v), y2: y(v), class: v === 0 ? "zero" : "" }, grid);
      svgText(grid, -6, y(v) + 4, compact(v), { class: "tick", "text-anchor": "end" });
    }
    const months = monthTicks(t0, t1);
    for (const t of months) {
      svg("line", { x1: x(t), x2: x(t), y1: h, y2: h + 4 }, grid);
      svgText(grid, x(t), h + 18, new Date(t).toLocaleDateString("en-GB", { month: "short", year: "2-digit" }), { class: "tick", "text-anchor": "middle" });
    }
    const path = points.map((p, i) => `${i ? "L" : "M"}${x(times[i]).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
    svg("path", { class: "value-line", d: path }, plot);
    for (const [i, p] of points.entries()) {
      const hit = svg("circle", { class: "timeline-point", cx: x(times[i]), cy: y(p.value), r: 3 }, plot);
      const lines = [when(p.at), `value ${decimal.format(p.value)}`, `${typeLabel(p.relationshipType)}, ${stageLabel(p.stage)}`];
      titled(hit, lines.join("\n"));
      attachTooltip(hit, lines);
    }
    const markers = svg("g", { class: "interaction-markers" }, plot);
    for (const interaction of interactions) {
      const t = Date.parse(interaction.occurredAt);
      if (t < t0 || t > t1) continue;
      const tone = interaction.sentiment === null || interaction.sentiment === undefined || Math.abs(interaction.sentiment) < 0.15
        ? "neutral" : interaction.sentiment > 0 ? "warm" : "cold";
      const marker = svg("circle", {
        class: `interaction-marker ${tone}`, cx: x(t), cy: y(valueAt(times, values, t)), r: 5,
        "data-interaction-id": interaction.id, "data-kind": interaction.kind,
      }, markers);
      const lines = [
        `${interaction.kind.replaceAll("_", " ")} (${interaction.channel})`,
        dateTimeFormat.format(new Date(t)),
        ...(interaction.sentiment === null || interaction.sentiment === undefined ? [] : [`sentiment ${decimal.format(interaction.sentiment)}`]),
        ...(interaction.amount ? [`${interaction.amountType ? interaction.amountType.replaceAll("_", " ") : "amount"} ${interaction.amount} ${interaction.currency || ""}`.trim()] : []),
        ...(interaction.text ? [`“${interaction.text.slice(0, 140)}”`] : []),
      ];
      titled(marker, lines.join("\n"));
      attachTooltip(marker, lines);
    }
    const moved = svg("g", { class: "driver-markers" }, plot);
    for (const d of drivers) {
      const t = Date.parse(d.occurredAt);
      if (t < t0 || t > t1) continue;
      const cx = x(t);
      const cy = y(valueAt(times, values, t));
      // A triangle above the line pointing up for a rise, below it pointing down for a fall.
      const shape = d.effect >= 0
        ? `M${cx - 6},${cy - 8} L${cx + 6},${cy - 8} L${cx},${cy - 18} Z`
        : `M${cx - 6},${cy + 8} L${cx + 6},${cy + 8} L${cx},${cy + 18} Z`;
      const marker = svg("path", {
        class: `driver-marker ${d.effect >= 0 ? "up" : "down"}`, d: shape,
        "data-interaction-id": d.interactionId, "data-effect": d.effect,
      }, moved);
      const lines = [d.reason, dateTimeFormat.format(new Date(t)), `moved the value ${d.effect >= 0 ? "+" : ""}${decimal.format(d.effect)}`];
      titled(marker, lines.join("\n"));
      attachTooltip(marker, lines);
    }
    host.append(chart);
    return host;
  }

  function valueAt(times, values, t) {
    for (let i = 1; i < times.length; i += 1) {
      if (t <= times[i]) {
        const share = (t - times[i - 1]) / (times[i] - times[i - 1] || 1);
        return values[i - 1] + share * (values[i] - values[i - 1]);
      }
    }
    return values[values.length - 1];
  }

  function niceStep(raw) {
    const exp = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)));
    for (const m of [1, 2, 5, 10]) if (m * exp >= raw) return m * exp;
    return 10 * exp;
  }

  function monthTicks(t0, t1) {
    const span = (t1 - t0) / 86400000;
    const every = span > 400 ? 3 : span > 120 ? 1 : 0;
    const out = [];
    const d = new Date(t0);
    d.setUTCDate(1);
    d.setUTCHours(0, 0, 0, 0);
    if (every === 0) {
      // Short ranges: a tick every two weeks.
      for (let t = t0; t <= t1; t += 14 * 86400000) out.push(t);
      return out;
    }
    while (d.getTime() <= t1) {
      d.setUTCMonth(d.getUTCMonth() + 1);
      if (d.getTime() >= t0 && d.getTime() <= t1 && d.getUTCMonth() % every === 0) out.push(d.getTime());
    }
    return out;
  }

  function explanationSection(explanation, timeline, asOf) {
    const from = timeline.length ? timeline[0].at : null;
    let heading = from ? `Why it moved since ${when(from)}` : "Why it moved";
    if (asOf) heading = from ? `Why it moved from ${when(from)} to ${dayWords(asOf)}` : `Why it moved up to ${dayWords(asOf)}`;
    const section = html("section", { className: "sub explanation" }, html("h4", { text: heading }));
    section.append(html("p", { className: "sentence", text: explanation.sentence }));
    const max = Math.max(0.001, ...explanation.drivers.map((d) => Math.abs(d.effect)));
    const list = html("ul", { className: "drivers" });
    for (const d of explanation.drivers) {
      const barBox = html("span", { className: "effect-bar" }, html("span", { className: d.effect < 0 ? "down" : "up" }));
      barBox.firstChild.style.width = `${Math.round((Math.abs(d.effect) / max) * 100)}%`;
      list.append(html("li", { className: "driver" },
        html("span", { className: `effect ${d.effect < 0 ? "negative" : "positive"}`, text: `${d.effect >= 0 ? "+" : ""}${decimal.format(d.effect)}` }),
        barBox,
        html("span", { className: "driver-reason", text: d.reason }),
        html("time", { text: when(d.occurredAt), attrs: { datetime: d.occurredAt } })));
    }
    if (!explanation.drivers.length) list.append(html("li", { className: "hint", text: "No interaction in the period." }));
    section.append(list);
    return section;
  }

  function actionsSection(actions, asOf) {
    const section = html("section", { className: "sub next-actions" }, html("h4", { text: "Next best actions" }),
      nowNote(asOf, "next best actions are planned for the present only."));
    const list = html("ol", { className: "action-list" });
    for (const a of actions) {
      const meter = html("span", { className: "meter small", title: `urgency ${percent.format(a.urgency)}` }, html("span"));
      meter.firstChild.style.width = `${Math.round(a.urgency * 100)}%`;
      list.append(html("li", { className: "action", data: { kind: a.kind } },
        html("div", { className: "action-head" }, html("strong", { text: a.title }), meter),
        html("p", { text: a.reason }),
        a.dueAt || a.employee ? html("p", { className: "hint", text: [a.dueAt ? `due ${when(a.dueAt)}` : "", a.employee ? `for ${a.employee}` : ""].filter(Boolean).join(" · ") }) : null));
    }
    if (!actions.length) list.append(html("li", { className: "empty", text: "Nothing to do now." }));
    section.append(list);
    return section;
  }

  function customerAlertsSection(alerts, asOf) {
    const section = html("section", { className: "sub customer-alerts" },
      html("h4", { text: asOf ? `Alerts ${momentWords(asOf)}` : "Alerts" }));
    const list = html("ol", { className: "alert-list" }, ...alerts.map((a) => alertItem(a, null, false, asOf)));
    if (!alerts.length) list.append(html("li", { className: "empty", text: asOf ? `No alert by ${dayWords(asOf)}.` : "No alert." }));
    section.append(list);
    return section;
  }

  function playbookSection(obligations, violations, asOf) {
    const section = html("section", { className: "sub playbook" }, html("h4", { text: "Playbook" }),
      nowNote(asOf, "the playbook keeps what is owed and missed now, not as it stood."));
    const owed = html("ul", { className: "obligations" }, ...obligations.map((o) => html("li", {},
      html("strong", { text: o.standardTitle }), document.createTextNode(` — ${o.what}, due ${when(o.dueAt)} (${o.team})`))));
    if (!obligations.length) owed.append(html("li", { className: "empty", text: "Nothing owed." }));
    const missed = html("ul", { className: "violations" }, ...violations.map((v) => html("li", {},
      html("strong", { text: v.standardTitle }), document.createTextNode(` — ${v.reason} (${when(v.detectedAt)})`))));
    if (!violations.length) missed.append(html("li", { className: "empty", text: "No standard missed." }));
    section.append(html("h5", { text: "Owed" }), owed, html("h5", { text: "Missed" }), missed);
    return section;
  }

  /** "Customers like this one": null when the lookalike lens failed (its error is shown
   * above the customer, with the others'). */
  function similarSection(similar, asOf) {
    const section = html("section", { className: "sub similar-customers" },
      html("h4", { text: "Customers like this one" }),
      html("p", { className: "hint", text: "By behaviour and by their own words: the similarity blends both (0 to 1); click one to open it." }),
      nowNote(asOf, "likeness is measured on everything known today."));
    const list = html("ol", { className: "similar-list" });
    if (similar === null || similar === undefined) {
      list.append(html("li", { className: "empty", text: "Not available (see above)." }));
    }
    for (const s of similar || []) {
      const name = (s.customer && s.customer.name) || `customer ${s.customerId}`;
      const type = s.customer && s.customer.relationship ? s.customer.relationship.relationshipType : null;
      list.append(html("li", { className: "similar", data: { customerId: s.customerId, similarity: s.similarity } },
        html("div", { className: "similar-head" },
          customerLink(s.customerId, name),
          type ? typeChip(type) : null,
          html("span", { className: "similar-parts", text: `behaviour ${twoPlaces.format(s.behaviourSimilarity)} · words ${twoPlaces.format(s.textSimilarity)}` }),
          html("span", { className: "similar-figure", text: twoPlaces.format(s.similarity), title: "similarity, 0 to 1" })),
        s.reasons.length ? html("ul", { className: "reasons similar-reasons" }, ...s.reasons.map((r) => html("li", { text: r }))) : null));
    }
    if (similar && !similar.length) list.append(html("li", { className: "empty", text: "No customer is like this one yet." }));
    section.append(list);
    return section;
  }

  // ---------------------------------------------------------------- the analysis lenses

  function lensBody(lens) {
    return document.querySelector(`.lens[data-lens="${lens}"] .lens-body`);
  }

  async function loadAnalysis(generation) {
    const asked = state.asOf;
    let answer;
    try {
      answer = await ask(ANALYSIS_QUERY, { asOf: asked });
    } catch (problem) {
      if (generation !== state.generation) return undefined;
      if (problem.fatal) return showFatal(problem.message);
      showPanelProblems("analysis", [{ code: problem.code, words: problem.message }]);
      for (const lens of LENSES) {
        lensBody(lens).dataset.state = "failed";
        lensBody(lens).dataset.asOf = asked || "";
        lensBody(lens).textContent = "Nothing to show.";
      }
      return undefined;
    }
    if (generation !== state.generation) return undefined;
    // An error under one lens is that lens's; any other (the whole query) is everyone's.
    const own = (lens) => answer.errors.filter((e) => e.path[0] === "analysis" && e.path[1] === lens);
    showPanelProblems("analysis", answer.errors.filter((e) => !(e.path[0] === "analysis" && LENSES.includes(e.path[1]))));
    const analysis = (answer.data && answer.data.analysis) || {};
    const draw = {
      serviceImpact: drawServiceImpact,
      journeyEndings: drawJourneyEndings,
      stars: drawStars,
      engagementSales: drawEngagementSales,
      returnOnRelationship: drawReturn,
    };
    for (const lens of LENSES) {
      showPanelProblems(`lens-${lens}`, own(lens));
      const body = lensBody(lens);
      body.dataset.asOf = asked || "";
      const result = analysis[lens];
      if (!result) {
        body.dataset.state = "failed";
        body.textContent = "Nothing to show.";
        continue;
      }
      body.replaceChildren(...draw[lens](result));
      body.dataset.state = "ready";
    }
    const ror = analysis.returnOnRelationship;
    if (ror && ror.top.length) nameReturnRows(ror.top.map((t) => t.customerId), generation);
    return undefined;
  }

  function interval(i, format = twoPlaces) {
    return `${format.format(i.low)} – ${format.format(i.high)}`;
  }

  function flag(on, words, good = false) {
    return on ? html("span", { className: `flag ${good ? "good" : "bad"}`, text: words }) : html("span", { className: "flag none", text: "—" });
  }

  /** A table: `columns` are [label, cell(row) → text or node, className?]; the first column
   * is the row's header. */
  function lensTable(className, columns, rows, rowData, rowClass = () => "") {
    const head = html("tr", {}, ...columns.map(([label]) => html("th", { text: label, attrs: { scope: "col" } })));
    const body = rows.map((row) => {
      const tr = html("tr", { className: rowClass(row), data: rowData(row) });
      columns.forEach(([, cell, cellClass], i) => {
        const value = cell(row);
        const td = html(i ? "td" : "th", { className: cellClass || "", attrs: i ? {} : { scope: "row" } });
        if (value instanceof Node) td.append(value);
        else td.textContent = String(value);
        tr.append(td);
      });
      return tr;
    });
    if (!body.length) body.push(html("tr", {}, html("td", { className: "empty", text: "Nothing in the data yet.", attrs: { colspan: columns.length } })));
    return html("div", { className: "table-wrap" },
      html("table", { className: `figures ${className}` }, html("thead", {}, head), html("tbody", {}, ...body)));
  }

  function label(words) {
    return String(words).replace(/^issue:/, "issue: ").replaceAll("_", " ");
  }

  function drawServiceImpact(s) {
    const hazards = lensTable("hazard-table", [
      ["issue type", (h) => label(h.issueType), "label-cell"],
      ["customers with it", (h) => number.format(h.customersWith)],
      ["lost after", (h) => number.format(h.lostAfter)],
      ["lost without", (h) => number.format(h.lostUnexposed)],
      ["hazard ratio", (h) => twoPlaces.format(h.hazardRatio), "ratio"],
      ["95% interval", (h) => interval(h.interval), "interval"],
      ["", (h) => flag(h.foreshadowsLoss, "foreshadows loss")],
    ], s.hazards, (h) => ({
      issueType: h.issueType, ratio: h.hazardRatio, low: h.interval.low, high: h.interval.high,
      flagged: h.foreshadowsLoss, customers: h.customersWith, lost: h.lostAfter,
    }), (h) => (h.foreshadowsLoss ? "hazard flagged" : "hazard"));
    for (const row of hazards.querySelectorAll("tr[data-issue-type]")) {
      const h = s.hazards.find((x) => x.issueType === row.dataset.issueType);
      row.title = `lost after: ${h.lostAfter} in ${decimal.format(h.exposedYears)} customer-years; ` +
        `lost without: ${h.lostUnexposed} in ${decimal.format(h.unexposedYears)} customer-years`;
    }
    const upsells = lensTable("upsell-table", [
      ["issue type resolved", (u) => label(u.issueType), "label-cell"],
      ["resolved", (u) => number.format(u.resolved)],
      ["followed by upsell", (u) => `${number.format(u.followed)} (${percent.format(u.share)})`],
      ["other types", (u) => `${percent.format(u.baseRate)} of ${number.format(u.baseResolved)}`],
      ["lift", (u) => twoPlaces.format(u.lift), "ratio"],
      ["95% interval", (u) => interval(u.interval), "interval"],
      ["", (u) => flag(u.opensUpsell, "opens upsell", true)],
    ], s.upsells, (u) => ({
      issueType: u.issueType, ratio: u.lift, low: u.interval.low, high: u.interval.high,
      flagged: u.opensUpsell, resolved: u.resolved, followed: u.followed,
    }), (u) => (u.opensUpsell ? "upsell flagged good" : "upsell"));
    return [
      html("p", { className: "lens-summary", text: `${number.format(s.customers)} customers, ${number.format(s.lost)} lost; ${number.format(s.hazardCount)} issue types compared.` }),
      html("h4", { text: "Issue types before loss" }), hazards,
      html("h4", { text: `Resolved, then an upsell within ${s.windowDays} days` }), upsells,
    ];
  }

  function drawJourneyEndings(j) {
    const table = lensTable("cause-table", [
      ["before the end", (c) => label(c.cause), "label-cell"],
      ["lost with it", (c) => `${number.format(c.lostWith)} of ${number.format(c.lost)}`],
      ["retained with it", (c) => `${number.format(c.retainedWith)} of ${number.format(c.retained)}`],
      ["lift", (c) => twoPlaces.format(c.lift), "ratio"],
      ["95% interval", (c) => interval(c.interval), "interval"],
      ["", (c) => flag(c.trend, "trend")],
    ], j.causes, (c) => ({
      cause: c.cause, ratio: c.lift, low: c.interval.low, high: c.interval.high, flagged: c.trend,
      lostWith: c.lostWith, retainedWith: c.retainedWith,
    }), (c) => (c.trend ? "cause flagged" : "cause"));
    return [
      html("p", { className: "lens-summary", text: `${number.format(j.lost)} lost and ${number.format(j.retained)} retained customers, the ${j.windowDays} days before each end; ${number.format(j.trendCount)} trends among ${number.format(j.causeCount)} causes.` }),
      table,
    ];
  }

  function drawStars(s) {
    const table = lensTable("star-table", [
      ["employee", (e) => e.employee, "label-cell"],
      ["customers", (e) => number.format(e.customers)],
      ["retained", (e) => number.format(e.retained)],
      ["retention (shrunk)", (e) => percent.format(e.retention), "ratio"],
      ["raw", (e) => percent.format(e.retentionRaw)],
      ["95% interval", (e) => interval(e.retentionInterval, percent), "interval"],
      ["expanded", (e) => `${number.format(e.expanded)} (${percent.format(e.expansion)})`],
      ["revenue a month", (e) => number.format(e.revenuePerMonth)],
    ], s.employees, (e) => ({
      employee: e.employee, ratio: e.retention, low: e.retentionInterval.low, high: e.retentionInterval.high,
      customers: e.customers, retained: e.retained,
    }), (e) => (e.retentionInterval.low > s.meanRetention ? "star flagged good" : "star"));
    return [
      html("p", { className: "lens-summary", text: `${number.format(s.employeeCount)} employees; on average ${percent.format(s.meanRetention)} of customers retained, ${percent.format(s.meanExpansion)} expanded, ${number.format(s.meanRevenuePerMonth)} revenue a month. Green: retention above the mean even at the interval's low end.` }),
      table,
    ];
  }

  function bestLag(channel) {
    return channel.lags.find((l) => l.lagMonths === channel.bestLagMonths) || channel.lags[0] || null;
  }

  function drawEngagementSales(e) {
    const table = lensTable("channel-table", [
      ["channel", (c) => c.channel, "label-cell"],
      ["engagements", (c) => number.format(c.engagements)],
      ["customers", (c) => number.format(c.customers)],
      ["best lag", (c) => `${c.bestLagMonths} mo`],
      ["correlation", (c) => (bestLag(c) ? twoPlaces.format(bestLag(c).correlation) : "—"), "ratio"],
      ["95% interval", (c) => (bestLag(c) ? interval(bestLag(c).interval) : "—"), "interval"],
      ["months paired", (c) => (bestLag(c) ? number.format(bestLag(c).pairs) : "—")],
      ["revenue an engagement", (c) => (bestLag(c) ? number.format(bestLag(c).revenuePerEngagement) : "—")],
      ["", (c) => flag(c.leadsRevenue, "leads revenue", true)],
    ], e.channels, (c) => {
      const l = bestLag(c);
      return {
        channel: c.channel, lag: c.bestLagMonths, ratio: l ? l.correlation : "",
        low: l ? l.interval.low : "", high: l ? l.interval.high : "", flagged: c.leadsRevenue,
        engagements: c.engagements,
      };
    }, (c) => (c.leadsRevenue ? "channel flagged good" : "channel"));
    return [
      html("p", { className: "lens-summary", text: `${number.format(e.customers)} customers over ${e.months} months of 30 days; a lag of 2 means engagement this month, revenue two months later.` }),
      table,
    ];
  }

  function drawReturn(r) {
    const t = r.tenant;
    const table = lensTable("return-table", [
      ["customer", (c) => customerLink(c.customerId, `customer ${c.customerId}`), "label-cell"],
      ["type", (c) => typeLabel(c.relationshipType)],
      ["revenue", (c) => number.format(c.revenue)],
      ["loyalty", (c) => number.format(c.loyalty)],
      ["recommendations", (c) => number.format(c.recommendations)],
      ["sharing", (c) => number.format(c.sharing)],
      ["total", (c) => number.format(c.total), "ratio"],
      ["beyond revenue", (c) => (c.total ? percent.format((c.loyalty + c.recommendations + c.sharing) / c.total) : "—")],
    ], r.top, (c) => ({
      customerId: c.customerId, revenue: c.revenue, loyalty: c.loyalty,
      recommendations: c.recommendations, sharing: c.sharing, total: c.total,
    }), () => "customer-return");
    return [
      html("p", { className: "lens-summary", text: `From ${when(r.periodStart)} to ${when(r.asOf)}, over ${number.format(t.customers)} customers: revenue ${number.format(t.revenue)}, loyalty ${number.format(t.loyalty)}, recommendations ${number.format(t.recommendations)}, sharing ${number.format(t.sharing)} — ${percent.format(t.beyondRevenueShare)} of the total ${number.format(t.total)} is beyond revenue.` }),
      table,
    ];
  }

  /** Return on Relationship gives ids only: the names follow in one request. */
  async function nameReturnRows(ids, generation) {
    let names;
    try {
      names = await customerNames(ids);
    } catch (problem) {
      if (generation !== state.generation) return undefined;
      if (problem.fatal) return showFatal(problem.message);
      return showPanelProblems("lens-returnOnRelationship", [{ code: problem.code, words: problem.message }]);
    }
    if (generation !== state.generation) return undefined;
    if (names.errors.length) showPanelProblems("lens-returnOnRelationship", names.errors);
    for (const link of document.querySelectorAll('.lens[data-lens="returnOnRelationship"] .customer-link')) {
      const name = names.byId.get(link.dataset.customerId);
      if (name) link.textContent = name;
    }
    return undefined;
  }

  function interactionSection(interactions, asOf) {
    const section = html("section", { className: "sub interactions" },
      html("h4", { text: asOf ? `Interactions up to ${dayWords(asOf)}` : "Recent interactions" }));
    const head = html("tr", {}, ...["when", "channel", "kind", "direction", "sentiment", "amount", "employee", "words"]
      .map((label) => html("th", { text: label, attrs: { scope: "col" } })));
    const rows = interactions.map((i) => html("tr", { data: { interactionId: i.id } },
      html("td", { text: when(i.occurredAt), title: dateTimeFormat.format(new Date(i.occurredAt)) }),
      html("td", { text: i.channel }),
      html("td", { text: i.kind.replaceAll("_", " ") }),
      html("td", { text: i.direction || "—" }),
      html("td", { text: i.sentiment === null || i.sentiment === undefined ? "—" : decimal.format(i.sentiment), className: (i.sentiment || 0) < 0 ? "negative" : "" }),
      html("td", { text: i.amount ? `${i.amount} ${i.currency || ""}`.trim() : "—", title: i.amountType || "" }),
      html("td", { text: i.employee || "—" }),
      html("td", { className: "words", text: i.text || "" })));
    const none = asOf ? `No interaction by ${dayWords(asOf)}.` : "No interaction yet.";
    if (!rows.length) rows.push(html("tr", {}, html("td", { text: none, attrs: { colspan: 8 } })));
    section.append(html("table", { className: "figures interaction-table" }, html("thead", {}, head), html("tbody", {}, ...rows)));
    return section;
  }

  // ---------------------------------------------------------------- the moment the board shows

  /** "31 May 2026": the UTC day of a moment the board asked for. */
  function dayWords(asOf) {
    return dayFormat.format(new Date(asOf));
  }

  /** The one wording every panel uses for the moment it shows. */
  function momentWords(asOf) {
    return asOf ? `as of ${dayWords(asOf)}` : "as of now";
  }

  function dayOf(date, utc) {
    const parts = utc
      ? [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()]
      : [date.getFullYear(), date.getMonth() + 1, date.getDate()];
    return parts.map((n, i) => String(n).padStart(i ? 2 : 4, "0")).join("-");
  }

  /** Today: the later of the person's own day and the UTC day, so that neither is refused as
   * a day to come. */
  function today() {
    const now = new Date();
    const utc = dayOf(now, true);
    const local = dayOf(now, false);
    return utc > local ? utc : local;
  }

  /** A day as chosen or linked: {day, asOf} (asOf null for now: no day, or today, whose end
   * is still to come), or {refusal} in words. */
  function readDay(text) {
    const day = String(text || "").trim();
    if (!day) return { day: "", asOf: null };
    const parts = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
    if (!parts) return { refusal: `“${day}” is not a day: give it as year-month-day, e.g. 2026-05-31.` };
    if (day < EARLIEST_DAY) {
      return { refusal: `${day} is before 1970: the board looks back to 1 January 1970 at the earliest.` };
    }
    const [year, month, date] = parts.slice(1).map(Number);
    const end = new Date(Date.UTC(year, month - 1, date, 23, 59, 59));
    if (end.getUTCMonth() !== month - 1 || end.getUTCDate() !== date) {
      return { refusal: `${day} is not a day of the calendar.` };
    }
    if (day > today()) {
      return { refusal: `${dayFormat.format(end)} is in the future: the board can only look back. Choose a day up to today, or Now.` };
    }
    return { day, asOf: end.getTime() > Date.now() ? null : `${day}T23:59:59Z` };
  }

  /** Show the board as of a day ("" for now) and put the day in the address. A refused day is
   * said and changes nothing. Reloads the board (when there is a key) if the moment changed,
   * or always with `force` (the person asked again). Returns whether the moment changed. */
  function chooseDay(text, { reload = true, force = false } = {}) {
    const input = $("as-of-input");
    input.max = today();
    const chosen = readDay(text);
    if (chosen.refusal) {
      input.setAttribute("aria-invalid", "true");
      showAsOfState(`${chosen.refusal} The board still shows ${state.asOf ? dayWords(state.asOf) : "now"}.`, true);
      writeAddress();
      return false;
    }
    input.removeAttribute("aria-invalid");
    const changed = chosen.asOf !== state.asOf;
    state.asOfDay = chosen.day;
    state.asOf = chosen.asOf;
    if (input.value !== chosen.day) input.value = chosen.day;
    writeAddress();
    sayMoment();
    showMoments();
    if (reload && state.key && (changed || force)) showBoard();
    return changed;
  }

  function showAsOfState(words, refused = false) {
    const node = $("as-of-state");
    node.textContent = words;
    node.classList.toggle("refused", refused);
    node.setAttribute("role", refused ? "alert" : "status");
  }

  /** What the "As of" control shows, in words beside it. */
  function sayMoment() {
    if (state.asOf) {
      showAsOfState(`Looking back: the board as it stood at the end of ${dayWords(state.asOf)} (UTC), ` +
        "wherever the graph keeps the past; what it keeps only now says so.");
    } else {
      showAsOfState(state.asOfDay ? "Today has not ended: showing now." : "Showing now.");
    }
  }

  /** Every panel's heading says the moment it shows; those that cannot look back say that
   * they show now, and the alerts that acknowledging is about now. */
  function showMoments() {
    const asOf = state.asOf;
    document.body.classList.toggle("looking-back", Boolean(asOf));
    for (const small of document.querySelectorAll("h2 small.moment")) {
      const nowOnly = small.dataset.nowOnly === "true";
      small.textContent = momentWords(nowOnly ? null : asOf);
      small.dataset.asOf = nowOnly ? "" : asOf || "";
      small.title = asOf && !nowOnly ? `the end of ${dayWords(asOf)}, UTC` : "";
    }
    const notes = {
      alerts: () => `As they stood then: an alert acknowledged since shows open. Acknowledging ` +
        "is about now, so it waits until you choose Now.",
      playbook: () => `Shows now, not ${dayWords(asOf)}: the worklist and the playbook's versions ` +
        "are the present's, and the graph cannot look back on them.",
    };
    for (const note of document.querySelectorAll("[data-look-back-note]")) {
      note.hidden = !asOf;
      note.textContent = asOf ? notes[note.dataset.lookBackNote]() : "";
    }
  }

  /** The address's fragment holds the chosen day and nothing else (never the key): a link
   * reopens the same view, and the fragment is never sent to a server. */
  function writeAddress() {
    const hash = state.asOfDay ? `#${new URLSearchParams({ asOf: state.asOfDay })}` : "";
    const here = window.location.pathname + window.location.search;
    if (here + hash !== here + window.location.hash) history.replaceState(null, "", here + hash);
  }

  // ---------------------------------------------------------------- the key and the board

  function showBoard() {
    state.generation += 1;
    const generation = state.generation;
    $("problems").replaceChildren();
    $("board").hidden = false;
    $("key-state").textContent = `Using key ${state.key.slice(0, 12)}…`;
    for (const id of ["value-map", "stage-funnel"]) {
      $(id).dataset.state = "loading";
      $(id).textContent = "Loading…";
    }
    for (const id of ["type-legend", "type-table", "pareto", "portfolio-count"]) $(id).replaceChildren();
    for (const box of document.querySelectorAll("[data-problems-for]")) box.replaceChildren();
    $("standards").dataset.state = "loading";
    $("standards").textContent = "Loading…";
    for (const id of ["at-risk-list", "alert-list", "worklist"]) {
      $(id).dataset.state = "loading";
      $(id).replaceChildren(html("li", { text: "Loading…" }));
    }
    showMoments();
    for (const body of document.querySelectorAll(".lens .lens-body")) {
      body.dataset.state = "loading";
      body.replaceChildren(document.createTextNode("Loading… (each lens reads every interaction: this can take seconds)"));
    }
    loadPortfolio(generation);
    loadAtRisk(generation);
    loadAlerts(generation);
    loadPlaybook(generation);
    loadAnalysis(generation);
    if (state.customerId) openCustomer(state.customerId, false);
  }

  function useKey(key) {
    state.key = key.trim();
    if (!state.key) {
      showFatal("Enter a key first.");
      return;
    }
    sessionStorage.setItem(KEY_STORAGE, state.key);
    showBoard();
  }

  /** The address's fragment: `#asOf=…` chooses the day; `#key=…` (make run prints such a
   * link) is taken, then removed from the address bar and history (writeAddress keeps the day
   * only) so that it is not left on screen or in a bookmark. True when a key was taken. */
  function fromAddress() {
    const fragment = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    const fromLink = fragment.get("key");
    const changed = chooseDay(fragment.get("asOf") || "", { reload: false });
    if (fromLink) {
      useKey(fromLink);
      return true;
    }
    if (changed && state.key) showBoard();
    return false;
  }

  function start() {
    showMoments();
    if (!fromAddress()) {
      const kept = sessionStorage.getItem(KEY_STORAGE);
      if (kept) useKey(kept);
    }
    window.addEventListener("hashchange", fromAddress);
    // A day typed digit by digit passes through other days (year 0002, 0020, 0202…): the
    // board follows once the typing pauses; Enter or "Look back" follows at once.
    let typing = 0;
    const asOfInput = $("as-of-input");
    asOfInput.addEventListener("change", () => {
      clearTimeout(typing);
      typing = setTimeout(() => chooseDay(asOfInput.value), 400);
    });
    $("as-of-form").addEventListener("submit", (event) => {
      event.preventDefault();
      clearTimeout(typing);
      chooseDay(asOfInput.value, { force: true });
    });
    $("as-of-now").addEventListener("click", () => {
      clearTimeout(typing);
      chooseDay("", { force: true });
    });
    $("playbook-version").addEventListener("change", showVersion);
    $("worklist-team").addEventListener("change", () => loadWorklist(state.generation));
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const input = $("key-input");
      useKey(input.value);
      input.value = "";
    });
    $("forget-key").addEventListener("click", () => {
      sessionStorage.removeItem(KEY_STORAGE);
      state.key = null;
      state.customerId = null;
      state.customerAsked += 1;
      $("board").hidden = true;
      $("problems").replaceChildren();
      $("customer-view").replaceChildren(html("p", { className: "hint", text: "Click a customer on the value map, in the at-risk list or on an alert." }));
      $("key-state").textContent = "Key forgotten. Enter a key to see the portfolio.";
    });
  }

  document.addEventListener("DOMContentLoaded", start);
})();
