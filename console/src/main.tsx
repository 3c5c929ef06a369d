import { type ComponentChildren, createContext, render } from "preact";
import { useCallback, useContext, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { type Api, ApiError, type PromMetric, api, apiKey, counterSum } from "./api.js";
import { TimeChart } from "./charts.js";
import { duration, iso, localInput, parseDuration, relative } from "./format.js";
import "./styles.css";

// ---------------------------------------------------------------------------------------------- plumbing

type Notice = { text: string; kind: "ok" | "error" };
const Notify = createContext<(text: string, kind?: Notice["kind"]) => void>(() => {});
/** Bumped every few seconds while live updates are on and the page is visible: views refresh on it. */
const Tick = createContext(0);

interface Loaded<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` when `deps` change (and on every tick when `live`), keeping the last good answer while a new one loads. */
function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[], live = true): Loaded<T> {
  const tick = useContext(Tick);
  const [state, setState] = useState<{ data: T | undefined; error: ApiError | undefined; loading: boolean }>({ data: undefined, error: undefined, loading: true });
  const [again, setAgain] = useState(0);
  const seq = useRef(0);
  useEffect(() => {
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => mine === seq.current && setState({ data, error: undefined, loading: false }),
      (error: unknown) =>
        mine === seq.current &&
        setState((s) => ({ ...s, error: error instanceof ApiError ? error : new ApiError(0, "Error", String(error)), loading: false })),
    );
  }, [...deps, again, live ? tick : 0]);
  return { ...state, reload: useCallback(() => setAgain((n) => n + 1), []) };
}

function ErrorLine({ error }: { error: ApiError | undefined }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error.code}: {error.message}
    </p>
  );
}

function Section({ title, children, id }: { title: string; children: ComponentChildren; id?: string }) {
  const headingId = `${id ?? title.replace(/\W+/g, "-").toLowerCase()}-heading`;
  return (
    <section aria-labelledby={headingId} id={id}>
      <h2 id={headingId}>{title}</h2>
      {children}
    </section>
  );
}

/** Runs an action, says how it went in the live region, and reloads what it changed. */
function useAction() {
  const notify = useContext(Notify);
  return async <T,>(work: () => Promise<T>, said: (result: T) => string, after?: () => void): Promise<T | undefined> => {
    try {
      const result = await work();
      notify(said(result), "ok");
      after?.();
      return result;
    } catch (error) {
      notify(error instanceof ApiError ? `${error.code}: ${error.message}` : String(error), "error");
      return undefined;
    }
  };
}

// ------------------------------------------------------------------------------------------------ routes

type Route = { view: "home" } | { view: "topic"; topic: string; message?: string } | { view: "schedules" };

function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (parts[0] === "topics" && parts[1]) return { view: "topic", topic: parts[1], ...(parts[2] === "messages" && parts[3] && { message: parts[3] }) };
  if (parts[0] === "schedules") return { view: "schedules" };
  return { view: "home" };
}

const topicHref = (topic: string) => `#/topics/${encodeURIComponent(topic)}`;
const messageHref = (topic: string, id: string) => `${topicHref(topic)}/messages/${encodeURIComponent(id)}`;

// -------------------------------------------------------------------------------------------------- app

function App() {
  const [route, setRoute] = useState(parseRoute(location.hash));
  const [live, setLive] = useState(true);
  const [tick, setTick] = useState(0);
  const [notice, setNotice] = useState<Notice | undefined>();
  const notify = useCallback((text: string, kind: Notice["kind"] = "ok") => setNotice({ text, kind }), []);

  useEffect(() => {
    const onHash = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);
  useEffect(() => {
    if (!live) return;
    const timer = setInterval(() => document.visibilityState === "visible" && setTick((t) => t + 1), 2000);
    return () => clearInterval(timer);
  }, [live]);

  return (
    <Notify.Provider value={notify}>
      <Tick.Provider value={live ? tick : 0}>
        <a
          class="skip"
          href="#main"
          onClick={(e) => {
            // The hash names the view: move the focus without navigating.
            e.preventDefault();
            document.getElementById("main")?.focus();
          }}
        >
          Skip to content
        </a>
        <header>
          <h1>
            <a href="#/">delayq console</a>
          </h1>
          <Health />
          <label class="live">
            <input type="checkbox" checked={live} onChange={(e) => setLive(e.currentTarget.checked)} /> Live updates (every 2 s)
          </label>
        </header>
        <div class="layout">
          <nav aria-label="Topics and schedules">
            <TopicNav current={route.view === "topic" ? route.topic : undefined} />
            <p>
              <a href="#/schedules" aria-current={route.view === "schedules" ? "page" : undefined}>
                Recurring schedules
              </a>
            </p>
          </nav>
          <main id="main" tabIndex={-1}>
            <div class={`notice ${notice?.kind ?? ""}`} role="status" aria-live="polite" data-testid="notice">
              {notice?.text}
            </div>
            {route.view === "topic" ? (
              <TopicView key={route.topic} topic={route.topic} message={route.message} />
            ) : route.view === "schedules" ? (
              <SchedulesView />
            ) : (
              <Home />
            )}
          </main>
        </div>
      </Tick.Provider>
    </Notify.Provider>
  );
}

function Health() {
  const health = useLoad(() => api.health(), []);
  const [key, setKey] = useState(apiKey.get() ?? "");
  const needsKey = health.error?.status === 401;
  return (
    <div class="health">
      <span class={health.error ? "dot bad" : "dot good"} aria-hidden="true" />
      <span>{health.error ? `server: ${health.error.code}` : health.data ? `server ${location.host} answers` : "connecting…"}</span>
      {(needsKey || apiKey.get()) && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            apiKey.set(key);
            health.reload();
          }}
        >
          <label>
            API key <input type="password" value={key} autocomplete="off" onInput={(e) => setKey(e.currentTarget.value)} />
          </label>
          <button type="submit">Use key</button>
        </form>
      )}
    </div>
  );
}

function TopicNav({ current }: { current: string | undefined }) {
  const topics = useLoad(async () => {
    const all: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await api.topics(cursor);
      all.push(...page.topics);
      cursor = page.cursor;
    } while (cursor !== undefined && all.length < 10_000);
    return all;
  }, []);
  const [name, setName] = useState("");
  return (
    <div>
      <h2>Topics</h2>
      <ErrorLine error={topics.error} />
      <ul class="topics">
        {(topics.data ?? []).map((t) => (
          <li key={t}>
            <a href={topicHref(t)} aria-current={t === current ? "page" : undefined}>
              {t}
            </a>
          </li>
        ))}
      </ul>
      {topics.data?.length === 0 && <p>No topics yet: publish to one, or open it by name.</p>}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (name.trim()) location.hash = topicHref(name.trim());
        }}
      >
        <label>
          Open topic <input value={name} onInput={(e) => setName(e.currentTarget.value)} pattern="[A-Za-z0-9_.\-]{1,64}" />
        </label>
        <button type="submit">Open</button>
      </form>
    </div>
  );
}

function Home() {
  return (
    <Section title="Overview">
      <p>Pick a topic to see its groups, counts, due forecast and pending messages; or open the recurring schedules.</p>
      <ServiceMetrics />
    </Section>
  );
}

// ------------------------------------------------------------------------------------------------ topic

function TopicView({ topic, message }: { topic: string; message: string | undefined }) {
  const stats = useLoad(() => api.stats(topic), [topic]);
  return (
    <div>
      <h2 class="topic-title">
        Topic <code>{topic}</code>
      </h2>
      <ErrorLine error={stats.error} />
      {message && <MessageView topic={topic} id={message} />}
      <div class="cards">
        <StatsCard stats={stats.data} />
        <TopicSettingsCard topic={topic} />
      </div>
      <Forecast topic={topic} stats={stats.data} />
      <ServiceMetrics topic={topic} />
      <Groups topic={topic} stats={stats.data} />
      <Timeline topic={topic} />
      <Lookup topic={topic} />
      <Publish topic={topic} />
    </div>
  );
}

function StatsCard({ stats }: { stats: Api.TopicStats | undefined }) {
  return (
    <Section title="Counts">
      {stats ? (
        <dl class="figures" data-testid="stats">
          <dt>Scheduled</dt>
          <dd data-testid="scheduled">{stats.scheduled}</dd>
          <dt>Held (no group yet)</dt>
          <dd>{stats.held}</dd>
          <dt>Oldest due, not taken</dt>
          <dd>{stats.oldestDueAgeMs ? duration(stats.oldestDueAgeMs) : "—"}</dd>
          <dt>Due within a minute / hour / day / week</dt>
          <dd>
            {stats.dueWithin.minute} / {stats.dueWithin.hour} / {stats.dueWithin.day} / {stats.dueWithin.week}
          </dd>
        </dl>
      ) : (
        <p>Loading…</p>
      )}
    </Section>
  );
}

function TopicSettingsCard({ topic }: { topic: string }) {
  const settings = useLoad(() => api.topic(topic), [topic], false);
  const s = settings.data;
  return (
    <Section title="Topic settings">
      <ErrorLine error={settings.error} />
      {s && (
        <dl class="figures">
          <dt>Maximum delay</dt>
          <dd>{duration(s.maxDelayMs)}</dd>
          <dt>Beyond the maximum</dt>
          <dd>{s.overMaxDelay ?? "each door's rule"}</dd>
          <dt>Message TTL</dt>
          <dd>{s.messageTtlMs === null ? "none" : duration(s.messageTtlMs)}</dd>
          <dt>Retention</dt>
          <dd>{duration(s.retentionMs)}</dd>
        </dl>
      )}
    </Section>
  );
}

const RANGES = [
  { label: "next 10 minutes", ms: 10 * 60_000, buckets: 40 },
  { label: "next hour", ms: 3_600_000, buckets: 60 },
  { label: "next day", ms: 86_400_000, buckets: 48 },
  { label: "next week", ms: 7 * 86_400_000, buckets: 56 },
] as const;
/** The forecast reads at most this many pending messages (then says it is cut). */
const FORECAST_MAX = 5000;

/** The due forecast: pending messages by deliver time, bucketed, from the timeline listing. */
function Forecast({ topic, stats }: { topic: string; stats: Api.TopicStats | undefined }) {
  const [range, setRange] = useState(1);
  const r = RANGES[range] ?? RANGES[1];
  const forecast = useLoad(async () => {
    const from = Date.now();
    const to = from + r.ms;
    const step = r.ms / r.buckets;
    const counts = new Array<number>(r.buckets).fill(0);
    let read = 0;
    let cursor: string | undefined;
    do {
      const page = await api.scheduled(topic, { from, to, limit: 1000, ...(cursor !== undefined && { cursor }) });
      for (const m of page.messages) counts[Math.min(r.buckets - 1, Math.max(0, Math.floor((m.deliverAt - from) / step)))]! += 1;
      read += page.messages.length;
      cursor = page.cursor;
    } while (cursor !== undefined && read < FORECAST_MAX);
    return { times: counts.map((_, i) => from + i * step), counts, cut: cursor !== undefined, read, step };
  }, [topic, range]);
  const f = forecast.data;
  const series = useMemo(() => (f ? [{ label: "messages due", color: "#2563eb", values: f.counts, bars: true }] : []), [f]);
  return (
    <Section title="Due forecast" id="forecast">
      <label>
        Window{" "}
        <select value={range} onChange={(e) => setRange(Number(e.currentTarget.value))}>
          {RANGES.map((x, i) => (
            <option value={i} key={x.label}>
              {x.label}
            </option>
          ))}
        </select>
      </label>
      <ErrorLine error={forecast.error} />
      {f && (
        <>
          <TimeChart title={`Messages of ${topic} falling due, ${r.label}, per ${duration(f.step)}`} times={f.times} series={series} yLabel="messages due" />
          <p class="caption" data-testid="forecast-caption">
            {f.read} pending message{f.read === 1 ? "" : "s"} in the window, per {duration(f.step)}
            {f.cut ? ` (the first ${f.read} only)` : ""}
            {stats ? `; the stats count ${stats.dueWithin.hour} due within the hour and ${stats.dueWithin.week} within the week` : ""}.
          </p>
          <details>
            <summary>Forecast as a table</summary>
            <table>
              <caption>Messages due per interval</caption>
              <thead>
                <tr>
                  <th scope="col">from</th>
                  <th scope="col">messages</th>
                </tr>
              </thead>
              <tbody>
                {f.times.map((t, i) =>
                  f.counts[i] ? (
                    <tr key={t}>
                      <td>{iso(Math.round(t))}</td>
                      <td>{f.counts[i]}</td>
                    </tr>
                  ) : null,
                )}
              </tbody>
            </table>
          </details>
        </>
      )}
    </Section>
  );
}

const RATE_POINTS = 90;

/**
 * Throughput from the local runtime's counters (GET /metrics, the figures Prometheus scrapes): per-second
 * rates between refreshes. On a deployed stack /metrics does not exist; CloudWatch has the same numbers.
 */
function ServiceMetrics({ topic }: { topic?: string }) {
  const tick = useContext(Tick);
  const [history, setHistory] = useState<{ at: number; values: Record<string, number> }[]>([]);
  const [lateness, setLateness] = useState<{ p50?: number; p99?: number; count: number } | undefined>();
  const [missing, setMissing] = useState<string | undefined>();
  useEffect(() => setHistory([]), [topic]);
  useEffect(() => {
    let cancelled = false;
    api.metrics().then(
      ({ metrics }) => {
        if (cancelled) return;
        const labels: Record<string, string> = topic ? { topic } : {};
        const values = {
          published: counterSum(metrics, "delayq_published_total", labels),
          delivered: counterSum(metrics, "delayq_delivered_total", labels),
          acked: counterSum(metrics, "delayq_acked_total", labels),
          deadLettered: counterSum(metrics, "delayq_dead_lettered_total", labels),
        };
        setHistory((h) => [...h.slice(-RATE_POINTS), { at: Date.now(), values }]);
        setLateness(latenessQuantiles(metrics, labels));
        setMissing(undefined);
      },
      (error: unknown) => !cancelled && setMissing(error instanceof ApiError && error.status === 404 ? "absent" : String((error as Error).message)),
    );
    return () => {
      cancelled = true;
    };
  }, [tick, topic]);
  const rates = useMemo(() => {
    const names = ["published", "delivered", "acked", "deadLettered"] as const;
    const times = history.slice(1).map((p) => p.at);
    const values = names.map((n) =>
      history.slice(1).map((p, i) => {
        const prev = history[i] as (typeof history)[number];
        return Math.max(0, ((p.values[n] ?? 0) - (prev.values[n] ?? 0)) / ((p.at - prev.at) / 1000));
      }),
    );
    return { times, values };
  }, [history]);
  const colors = ["#2563eb", "#16a34a", "#9333ea", "#dc2626"];
  const labels = ["published /s", "delivered /s", "acked /s", "dead-lettered /s"];
  const series = useMemo(() => rates.values.map((v, i) => ({ label: labels[i] as string, color: colors[i] as string, values: v })), [rates]);
  if (missing === "absent") {
    return (
      <Section title="Throughput" id="throughput">
        <p>This server has no /metrics: on AWS the same figures are in the stack's CloudWatch dashboard.</p>
      </Section>
    );
  }
  const last = history.at(-1)?.values;
  return (
    <Section title={topic ? "Throughput of this topic" : "Throughput"} id="throughput">
      {missing && <p class="error">{missing}</p>}
      {rates.times.length >= 2 ? (
        <TimeChart title="Messages per second: published, delivered, acked, dead-lettered" times={rates.times} series={series} yLabel="per second" height={180} />
      ) : (
        <p>Collecting rates (a point every 2 s while live updates are on)…</p>
      )}
      {last && (
        <p class="caption" data-testid="counters">
          Since the server started: {last.published} published, {last.delivered} delivered, {last.acked} acked, {last.deadLettered} dead-lettered
          {lateness && lateness.count > 0 ? `; lateness p50 ≤ ${lateness.p50} ms, p99 ≤ ${lateness.p99} ms over ${lateness.count} first deliveries` : ""}.
        </p>
      )}
    </Section>
  );
}

/** Upper bounds of the histogram buckets holding the median and the 99th percentile. */
function latenessQuantiles(metrics: readonly PromMetric[], labels: Record<string, string>) {
  const histogram = metrics.find((m) => m.name === "delayq_lateness_ms");
  if (!histogram) return undefined;
  const byBound = new Map<number, number>();
  for (const v of histogram.values) {
    if (v.metricName !== "delayq_lateness_ms_bucket" || !Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)) continue;
    const le = v.labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(v.labels.le);
    byBound.set(le, (byBound.get(le) ?? 0) + v.value);
  }
  const bounds = [...byBound.keys()].sort((a, b) => a - b);
  const count = byBound.get(Number.POSITIVE_INFINITY) ?? 0;
  const at = (q: number) => bounds.find((b) => (byBound.get(b) ?? 0) >= q * count);
  return { p50: at(0.5), p99: at(0.99), count };
}

// ------------------------------------------------------------------------------------------------ groups

function Groups({ topic, stats }: { topic: string; stats: Api.TopicStats | undefined }) {
  const groups = useLoad(() => api.groups(topic), [topic]);
  const [open, setOpen] = useState<string | undefined>();
  return (
    <Section title="Groups" id="groups">
      <ErrorLine error={groups.error} />
      {groups.data?.groups.length === 0 && <p>No group yet: a group is registered by its first consume or by its settings.</p>}
      {(groups.data?.groups.length ?? 0) > 0 && (
        <table>
          <caption>Groups of {topic}, with their settings and counts</caption>
          <thead>
            <tr>
              <th scope="col">group</th>
              <th scope="col">ready</th>
              <th scope="col">in flight</th>
              <th scope="col">dead letters</th>
              <th scope="col">visibility</th>
              <th scope="col">max receives</th>
              <th scope="col">retry backoff</th>
              <th scope="col">tags</th>
              <th scope="col">dead-lettering</th>
              <th scope="col">
                <span class="visually-hidden">actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {groups.data?.groups.map((g) => {
              const s = stats?.groups[g.group];
              return (
                <tr key={g.group} data-group={g.group}>
                  <th scope="row">{g.group}</th>
                  <td>{s?.ready ?? "—"}</td>
                  <td>{s?.inFlight ?? "—"}</td>
                  <td data-testid={`dead-count-${g.group}`}>{s?.deadLettered ?? "—"}</td>
                  <td>{g.visibilitySeconds} s</td>
                  <td>{g.maxReceiveCount}</td>
                  <td>
                    {g.retryBackoff.mode} {g.retryBackoff.baseSeconds}–{g.retryBackoff.capSeconds} s
                  </td>
                  <td>{g.tagFilter}</td>
                  <td>{g.deadLetter}</td>
                  <td>
                    <button type="button" aria-expanded={open === g.group} onClick={() => setOpen(open === g.group ? undefined : g.group)}>
                      Dead letters of {g.group}
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {open && <DeadLetters topic={topic} group={open} />}
    </Section>
  );
}

function DeadLetters({ topic, group }: { topic: string; group: string }) {
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const cursor = cursors.at(-1);
  const page = useLoad(() => api.deadLetters(topic, group, cursor), [topic, group, cursor]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const act = useAction();
  const after = () => {
    setSelected(new Set());
    page.reload();
  };
  const redrive = (body: Api.RedriveRequest) =>
    act(
      () => api.redrive(topic, group, body),
      (r) => `redrove ${r.redriven} dead letter${r.redriven === 1 ? "" : "s"} into ${group}${r.failed.length ? `; ${r.failed.length} failed` : ""}${r.more ? "; more remain" : ""}`,
      after,
    );
  const letters = page.data?.deadLetters ?? [];
  return (
    <Section title={`Dead letters of ${group}`} id="dead-letters">
      <ErrorLine error={page.error} />
      <div class="toolbar">
        <button type="button" disabled={selected.size === 0} onClick={() => redrive({ messageIds: [...selected] as [string, ...string[]] })}>
          Redrive selected ({selected.size})
        </button>
        <button type="button" disabled={letters.length === 0} onClick={() => confirm(`Redrive every dead letter of ${group}?`) && redrive({ all: true })}>
          Redrive all
        </button>
      </div>
      {letters.length === 0 ? (
        <p>No dead letters{cursors.length > 1 ? " on this page" : ""}.</p>
      ) : (
        <table>
          <caption>Dead letters of {group}, oldest failure first</caption>
          <thead>
            <tr>
              <th scope="col">
                <span class="visually-hidden">select</span>
              </th>
              <th scope="col">message</th>
              <th scope="col">failed</th>
              <th scope="col">deliveries</th>
              <th scope="col">deliver time</th>
              <th scope="col">tag</th>
              <th scope="col">
                <span class="visually-hidden">actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {letters.map((d) => (
              <tr key={d.messageId} data-dead-letter={d.messageId}>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`Select ${d.messageId}`}
                    checked={selected.has(d.messageId)}
                    onChange={(e) => {
                      const next = new Set(selected);
                      if (e.currentTarget.checked) next.add(d.messageId);
                      else next.delete(d.messageId);
                      setSelected(next);
                    }}
                  />
                </td>
                <td>
                  <a href={messageHref(topic, d.messageId)}>
                    <code>{d.messageId}</code>
                  </a>
                </td>
                <td>{iso(d.lastFailureAt)}</td>
                <td>{d.consumedTimes}</td>
                <td>{iso(d.deliverAt)}</td>
                <td>{d.tag ?? ""}</td>
                <td>
                  <button type="button" aria-label={`Redrive ${d.messageId}`} onClick={() => redrive({ messageIds: [d.messageId] })}>
                    Redrive
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager cursors={cursors} setCursors={setCursors} next={page.data?.cursor} />
    </Section>
  );
}

function Pager({ cursors, setCursors, next }: { cursors: (string | undefined)[]; setCursors: (c: (string | undefined)[]) => void; next: string | undefined }) {
  return (
    <div class="toolbar" role="group" aria-label="Pages">
      <button type="button" disabled={cursors.length <= 1} onClick={() => setCursors([undefined])}>
        First page
      </button>
      <button type="button" disabled={cursors.length <= 1} onClick={() => setCursors(cursors.slice(0, -1))}>
        Previous page
      </button>
      <span>page {cursors.length}</span>
      <button type="button" disabled={next === undefined} onClick={() => setCursors([...cursors, next])}>
        Next page
      </button>
    </div>
  );
}

// ---------------------------------------------------------------------------------------------- timeline

function Timeline({ topic }: { topic: string }) {
  const [window, setWindow] = useState(() => ({ from: localInput(Date.now() - 60_000), to: localInput(Date.now() + 7 * 86_400_000), limit: 50, tag: "" }));
  const [draft, setDraft] = useState(window);
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const cursor = cursors.at(-1);
  const page = useLoad(
    () =>
      api.scheduled(topic, {
        from: new Date(window.from).getTime(),
        to: new Date(window.to).getTime(),
        limit: window.limit,
        ...(window.tag && { tag: window.tag }),
        ...(cursor !== undefined && { cursor }),
      }),
    [topic, window, cursor],
  );
  const act = useAction();
  const cancel = (id: string) =>
    confirm(`Cancel message ${id}?`) &&
    act(
      () => api.cancel(topic, id),
      (r) => `${r.messageId}: ${r.outcome}`,
      page.reload,
    );
  const deliverNow = (id: string) =>
    act(
      () => api.reschedule(topic, id, { deliverAt: "now" }),
      (r) => `${r.messageId}: ${r.outcome}${r.deliverAt ? ` for ${iso(r.deliverAt)}` : ""}`,
      page.reload,
    );
  return (
    <Section title="Pending messages" id="timeline">
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          setWindow(draft);
          setCursors([undefined]);
        }}
      >
        <label>
          From <input type="datetime-local" value={draft.from} onInput={(e) => setDraft({ ...draft, from: e.currentTarget.value })} required />
        </label>
        <label>
          To <input type="datetime-local" value={draft.to} onInput={(e) => setDraft({ ...draft, to: e.currentTarget.value })} required />
        </label>
        <label>
          Tag <input value={draft.tag} onInput={(e) => setDraft({ ...draft, tag: e.currentTarget.value })} size={10} />
        </label>
        <label>
          Per page{" "}
          <select value={draft.limit} onChange={(e) => setDraft({ ...draft, limit: Number(e.currentTarget.value) })}>
            {[20, 50, 100, 500].map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Show</button>
      </form>
      <ErrorLine error={page.error} />
      {page.data?.messages.length === 0 ? (
        <p>No message waiting for its deliver time in this window.</p>
      ) : (
        <table>
          <caption>Messages of {topic} waiting for their deliver time, soonest first</caption>
          <thead>
            <tr>
              <th scope="col">message</th>
              <th scope="col">deliver time</th>
              <th scope="col">in</th>
              <th scope="col">tag</th>
              <th scope="col">
                <span class="visually-hidden">actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {page.data?.messages.map((m) => (
              <tr key={m.messageId} data-message-id={m.messageId}>
                <td>
                  <a href={messageHref(topic, m.messageId)}>
                    <code>{m.messageId}</code>
                  </a>
                </td>
                <td>{iso(m.deliverAt)}</td>
                <td>{relative(m.deliverAt)}</td>
                <td>{m.tag ?? ""}</td>
                <td class="actions">
                  <button type="button" aria-label={`Deliver ${m.messageId} now`} onClick={() => deliverNow(m.messageId)}>
                    Deliver now
                  </button>
                  <button type="button" class="danger" aria-label={`Cancel ${m.messageId}`} onClick={() => cancel(m.messageId)}>
                    Cancel
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager cursors={cursors} setCursors={setCursors} next={page.data?.cursor} />
      <p class="caption">From the deliver-time index, which lags by a moment: a message published or cancelled just now may be missing or still listed.</p>
    </Section>
  );
}

// ------------------------------------------------------------------------------------------------ message

function Lookup({ topic }: { topic: string }) {
  const [id, setId] = useState("");
  return (
    <Section title="Look up a message" id="lookup">
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          if (id.trim()) location.hash = messageHref(topic, id.trim().toUpperCase());
        }}
      >
        <label>
          Message id <input value={id} size={36} onInput={(e) => setId(e.currentTarget.value)} pattern="[0-9A-Fa-f]{32}" required />
        </label>
        <button type="submit">Look up</button>
      </form>
    </Section>
  );
}

function MessageView({ topic, id }: { topic: string; id: string }) {
  const message = useLoad(() => api.message(topic, id), [topic, id]);
  const [when, setWhen] = useState("");
  const act = useAction();
  const m = message.data;
  const reschedule = (body: Api.RescheduleRequest) =>
    act(
      () => api.reschedule(topic, id, body),
      (r) => `${r.messageId}: ${r.outcome}${r.deliverAt ? ` for ${iso(r.deliverAt)}` : ""}`,
      message.reload,
    );
  return (
    <Section title={`Message ${id}`} id="message">
      <p>
        <a href={topicHref(topic)}>Close</a>
      </p>
      <ErrorLine error={message.error} />
      {m && (
        <>
          <dl class="figures" data-testid="message">
            <dt>State</dt>
            <dd data-testid="message-state">{m.state}</dd>
            <dt>Deliver time</dt>
            <dd>
              {iso(m.deliverAt)} ({relative(m.deliverAt)}){m.deliverAtLocal ? `, ${m.deliverAtLocal} ${m.timeZone}` : ""}
            </dd>
            <dt>Published</dt>
            <dd>{iso(m.publishedAt)}</dd>
            {m.cancelledAt !== undefined && (
              <>
                <dt>Cancelled</dt>
                <dd>{iso(m.cancelledAt)}</dd>
              </>
            )}
            <dt>Tag / key / dedup id</dt>
            <dd>
              {m.tag ?? "—"} / {m.key ?? "—"} / {m.dedupId ?? "—"}
            </dd>
            <dt>Expires</dt>
            <dd>{iso(m.expiresAt)}</dd>
            <dt>Properties</dt>
            <dd>
              <code>{JSON.stringify(m.properties)}</code>
            </dd>
            <dt>Body</dt>
            <dd>
              <pre>{m.body.length > 4000 ? `${m.body.slice(0, 4000)}…` : m.body}</pre>
            </dd>
          </dl>
          {m.state === "scheduled" && (
            <div class="toolbar">
              <button type="button" onClick={() => reschedule({ deliverAt: "now" })}>
                Deliver now
              </button>
              <button
                type="button"
                class="danger"
                onClick={() => confirm(`Cancel message ${id}?`) && act(() => api.cancel(topic, id), (r) => `${r.messageId}: ${r.outcome}`, message.reload)}
              >
                Cancel message
              </button>
              <form
                class="row"
                onSubmit={(e) => {
                  e.preventDefault();
                  const ms = parseDuration(when);
                  if (ms !== undefined) reschedule({ delayMs: ms });
                  else if (when) reschedule({ deliverAt: new Date(when).getTime() });
                }}
              >
                <label>
                  Reschedule: delay from now (30s, 10m, 2h, 1d) or a date <input value={when} onInput={(e) => setWhen(e.currentTarget.value)} required />
                </label>
                <button type="submit">Reschedule</button>
              </form>
            </div>
          )}
          <table>
            <caption>Delivery in each group that has taken it</caption>
            <thead>
              <tr>
                <th scope="col">group</th>
                <th scope="col">state</th>
                <th scope="col">deliveries</th>
                <th scope="col">first delivered</th>
                <th scope="col">last delivered</th>
                <th scope="col">next visible</th>
                <th scope="col">acked</th>
              </tr>
            </thead>
            <tbody>
              {m.groups.length === 0 ? (
                <tr>
                  <td colSpan={7}>No group has taken it yet.</td>
                </tr>
              ) : (
                m.groups.map((g) => (
                  <tr key={g.group}>
                    <th scope="row">{g.group}</th>
                    <td>{g.state}</td>
                    <td>{g.consumedTimes}</td>
                    <td>{iso(g.firstConsumedAt)}</td>
                    <td>{iso(g.lastConsumedAt)}</td>
                    <td>{iso(g.nextVisibleAt)}</td>
                    <td>{iso(g.ackedAt)}</td>
                  </tr>
                ))
              )}
            </tbody>
          </table>
        </>
      )}
    </Section>
  );
}

function Publish({ topic }: { topic: string }) {
  const [body, setBody] = useState("");
  const [delay, setDelay] = useState("1m");
  const [tag, setTag] = useState("");
  const act = useAction();
  return (
    <Section title="Publish a message" id="publish">
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          const delayMs = parseDuration(delay);
          if (delayMs === undefined) return;
          void act(
            () => api.publish(topic, { body, delayMs, ...(tag && { tag }) }),
            (r) => `published ${r.messageId}, due ${iso(r.deliverAt)}`,
          );
        }}
      >
        <label>
          Body <input value={body} onInput={(e) => setBody(e.currentTarget.value)} required />
        </label>
        <label>
          Delay <input value={delay} size={6} onInput={(e) => setDelay(e.currentTarget.value)} required />
        </label>
        <label>
          Tag <input value={tag} size={10} onInput={(e) => setTag(e.currentTarget.value)} />
        </label>
        <button type="submit">Publish</button>
      </form>
    </Section>
  );
}

// ---------------------------------------------------------------------------------------------- schedules

function SchedulesView() {
  const schedules = useLoad(() => api.schedules(), []);
  const act = useAction();
  const empty = { name: "", topic: "", expression: "rate(5 minutes)", timeZone: "UTC", body: "", tag: "" };
  const [draft, setDraft] = useState(empty);
  const field = (name: keyof typeof empty, label: string, extra: Record<string, unknown> = {}) => (
    <label>
      {label} <input value={draft[name]} onInput={(e) => setDraft({ ...draft, [name]: e.currentTarget.value })} {...extra} />
    </label>
  );
  return (
    <div>
      <Section title="Recurring schedules" id="schedules">
        <ErrorLine error={schedules.error} />
        {schedules.data?.schedules.length === 0 ? (
          <p>No recurring schedule.</p>
        ) : (
          <table>
            <caption>Recurring schedules: each firing publishes its message</caption>
            <thead>
              <tr>
                <th scope="col">name</th>
                <th scope="col">topic</th>
                <th scope="col">expression</th>
                <th scope="col">time zone</th>
                <th scope="col">message</th>
                <th scope="col">
                  <span class="visually-hidden">actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {schedules.data?.schedules.map((s) => (
                <tr key={s.name} data-schedule={s.name}>
                  <th scope="row">{s.name}</th>
                  <td>
                    <a href={topicHref(s.topic)}>{s.topic}</a>
                  </td>
                  <td>
                    <code>{s.expression}</code>
                  </td>
                  <td>{s.timeZone}</td>
                  <td>
                    {s.message.body.slice(0, 80)}
                    {s.message.tag ? ` (tag ${s.message.tag})` : ""}
                  </td>
                  <td>
                    <button
                      type="button"
                      class="danger"
                      aria-label={`Delete schedule ${s.name}`}
                      onClick={() => confirm(`Delete schedule ${s.name}?`) && act(() => api.deleteSchedule(s.name), (r) => `deleted schedule ${r.name}`, schedules.reload)}
                    >
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      <Section title="Create a schedule" id="create-schedule">
        <form
          class="row"
          onSubmit={(e) => {
            e.preventDefault();
            void act(
              () =>
                api.createSchedule({
                  name: draft.name,
                  topic: draft.topic,
                  expression: draft.expression,
                  timeZone: draft.timeZone,
                  message: { body: draft.body, ...(draft.tag && { tag: draft.tag }) },
                }),
              (s) => `created schedule ${s.name}`,
              () => {
                setDraft(empty);
                schedules.reload();
              },
            );
          }}
        >
          {field("name", "Name", { required: true })}
          {field("topic", "Topic", { required: true })}
          {field("expression", "Expression (cron(…) or rate(…))", { required: true, size: 24 })}
          {field("timeZone", "Time zone")}
          {field("body", "Message body", { required: true })}
          {field("tag", "Tag")}
          <button type="submit">Create</button>
        </form>
      </Section>
    </div>
  );
}

render(<App />, document.getElementById("app") as HTMLElement);
