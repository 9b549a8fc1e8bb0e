using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Tracer.Tests.Daemon;
using Tracer.Tests.Infrastructure;
using Tracer.Tests.Telemetry;
using YamlDotNet.Serialization;

namespace Tracer.Tests.Deploy;

/// <summary>
/// deploy/grafana/tracer.json and deploy/prometheus/tracer-rules.yaml against what a real daemon serves: every metric
/// and label they name is in its /metrics scrape, the real promtool parses every expression, and the probe alert fires
/// for the pod of the seed incident (<see cref="ProbeIncident"/>; the Kubernetes API is the FAKE one).
/// </summary>
[KernelTest]
public sealed partial class DashboardTests(DashboardTests.IncidentScrape scrape) : IClassFixture<DashboardTests.IncidentScrape>
{
    private static readonly string Dashboard = Path.Combine(RepositoryPaths.Root, "deploy", "grafana", "tracer.json");

    // Not in a scrape: Prometheus adds them to every series it scrapes.
    private static readonly string[] TargetLabels = ["instance", "job"];
    private const string Instance = "node-1:9487";

    [Fact]
    public void EveryMetricAndLabelOfTheDashboardAndTheAlertsIsInTheScrape()
    {
        var missing = DashboardQueries().Concat(RuleQueries()).SelectMany(q => Missing(q, scrape.Samples)).ToList();
        Assert.True(missing.Count == 0, string.Join('\n', missing) + "\n\nthe scrape:\n" + scrape.Body);
    }

    [Fact]
    public void PromtoolParsesTheRulesAndEveryDashboardExpression()
    {
        var promtool = Promtool.Path;
        using var dir = new TemporaryDirectory();
        Promtool.Check(promtool, "check", "rules", WriteRulesSpec(dir.Path));

        // Each dashboard expression as a recording rule, Grafana's variables given values as Grafana would.
        var rules = DashboardQueries().Select((q, i) => new JsonObject { ["record"] = $"dashboard:query_{i}", ["expr"] = Grafana(q.Expression) });
        var file = Path.Combine(dir.Path, "dashboard.rules.yaml");
        File.WriteAllText(file, new JsonObject
        {
            ["groups"] = new JsonArray(new JsonObject { ["name"] = "dashboard", ["rules"] = new JsonArray([.. rules]) }),
        }.ToJsonString()); // JSON is YAML
        Promtool.Check(promtool, "check", "rules", file);
    }

    [Fact]
    public void ProbeTrafficAlertFiresForTheIncidentsPodFromTheScrapedSeries()
    {
        var promtool = Promtool.Path;
        using var dir = new TemporaryDirectory();
        var rules = WriteRulesSpec(dir.Path);
        var rule = TracerRules.Rules().Single(r => (string?)r["alert"] == "TracerProbeTrafficDropped" && TracerRules.Severity(r) == "critical");

        // Every scraped series as Prometheus would have stored it, scraped from node-1 once a minute for 15 minutes: the
        // counters growing by their scraped value each time, the gauges steady.
        var series = scrape.Samples.Select(s => new JsonObject
        {
            ["series"] = Selector(s.Name, s.Labels.Append(new("instance", Instance))),
            ["values"] = s.Name.EndsWith("_total", StringComparison.Ordinal) ? $"{Value(s.Value)}+{Value(s.Value)}x15" : $"{Value(s.Value)}x15",
        });
        // Liveness drops: one critical alert per pod, probe and culprit.
        var expected = scrape.Samples.Where(s => s.Name == "tracer_drops_total" && s["tracer_probe_kind"] is "liveness" or "startup")
            .Select(s => new SortedDictionary<string, string>(ProbeAlertLabels.ToDictionary(l => l, l => l == "instance" ? Instance : s[l]!)))
            .DistinctBy(l => string.Join(',', l))
            .ToList();
        Assert.Contains(expected, l => l["k8s_pod_name"] == ProbeIncident.PodName && l["tracer_culprit_id"] == ProbeIncident.Culprit &&
                                       l["k8s_namespace_name"] == "shop" && l["tracer_probe_kind"] == "liveness");
        var annotations = (Dictionary<object, object>)rule["annotations"]!;
        var alerts = expected.Select(labels => new JsonObject
        {
            ["exp_labels"] = new JsonObject([.. labels.Append(new("severity", "critical")).Select(l => KeyValuePair.Create(l.Key, (JsonNode?)l.Value))]),
            ["exp_annotations"] = new JsonObject([.. annotations.Select(a => KeyValuePair.Create((string)a.Key, (JsonNode?)Render((string)a.Value, labels)))]),
        });
        var incident = Render((string)annotations["summary"], expected.First(l => l["k8s_pod_name"] == ProbeIncident.PodName));
        Assert.Contains($"shop/{ProbeIncident.PodName}", incident);
        Assert.Contains("liveness", incident);
        Assert.Contains(ProbeIncident.Culprit, incident);

        var test = Path.Combine(dir.Path, "probe.test.yaml");
        File.WriteAllText(test, new JsonObject
        {
            ["rule_files"] = new JsonArray(rules),
            ["evaluation_interval"] = "1m",
            ["tests"] = new JsonArray(new JsonObject
            {
                ["interval"] = "1m",
                ["input_series"] = new JsonArray([.. series]),
                ["alert_rule_test"] = new JsonArray(new JsonObject
                {
                    ["eval_time"] = "10m",
                    ["alertname"] = "TracerProbeTrafficDropped",
                    ["exp_alerts"] = new JsonArray([.. alerts]),
                }),
            }),
        }.ToJsonString());
        Promtool.Check(promtool, "test", "rules", test);
    }

    private static readonly string[] ProbeAlertLabels =
        ["instance", "k8s_namespace_name", "k8s_pod_name", "tracer_probe_kind", "tracer_culprit_kind", "tracer_culprit_id"];

    /// <summary>A PromQL expression, or a Grafana legend of it, and where it is written.</summary>
    private sealed record Query(string Where, string Expression, string? Legend = null);

    private static IEnumerable<Query> DashboardQueries()
    {
        using var dashboard = JsonDocument.Parse(File.ReadAllText(Dashboard));
        var root = dashboard.RootElement;
        var queries = new List<Query>();
        foreach (var panel in root.GetProperty("panels").EnumerateArray().Where(p => p.TryGetProperty("targets", out _)))
            foreach (var target in panel.GetProperty("targets").EnumerateArray())
                queries.Add(new($"panel \"{panel.GetProperty("title").GetString()}\" target {target.GetProperty("refId").GetString()}",
                                target.GetProperty("expr").GetString()!,
                                target.TryGetProperty("legendFormat", out var legend) ? legend.GetString() : null));
        foreach (var variable in root.GetProperty("templating").GetProperty("list").EnumerateArray()
                     .Where(v => v.GetProperty("type").GetString() == "query"))
        {
            var where = $"variable {variable.GetProperty("name").GetString()}";
            var labelValues = LabelValues().Match(variable.GetProperty("query").GetProperty("query").GetString()!);
            Assert.True(labelValues.Success, $"{where}: only label_values(METRIC, LABEL) queries are checked");
            // The label is checked as a legend of the selector would be.
            queries.Add(new(where, labelValues.Groups["selector"].Value, $"{{{{{labelValues.Groups["label"].Value}}}}}"));
        }
        return queries;
    }

    private static IEnumerable<Query> RuleQueries() =>
        TracerRules.Rules().Select(r => new Query($"alert {r["alert"]} ({TracerRules.Severity(r)})", (string)r["expr"]));

    private static string WriteRulesSpec(string directory)
    {
        var file = Path.Combine(directory, "tracer.rules.yaml");
        File.WriteAllText(file, new SerializerBuilder().JsonCompatible().Build().Serialize(TracerRules.Spec()));
        return file;
    }

    /// <summary>What of <paramref name="query"/> the scrape lacks: metrics it does not serve, labels none of the query's metrics has.</summary>
    private static IEnumerable<string> Missing(Query query, List<PrometheusSample> samples)
    {
        var (metrics, labels) = PromQl.Names(query.Expression);
        if (metrics.Count == 0)
            yield return $"{query.Where}: no metric found in {query.Expression}";
        foreach (var metric in metrics.Where(m => !samples.Any(s => s.Name == m)))
            yield return $"{query.Where}: metric {metric} is not in the scrape: {query.Expression}";
        if (query.Legend is not null)
            labels.UnionWith(LegendLabels().Matches(query.Legend).Select(m => m.Groups[1].Value));
        var known = samples.Where(s => metrics.Contains(s.Name)).SelectMany(s => s.Labels.Keys).Concat(TargetLabels).ToHashSet();
        foreach (var label in labels.Where(l => !known.Contains(l)))
            yield return $"{query.Where}: label {label} is on no series of {string.Join(", ", metrics)} in the scrape: {query.Expression}";
    }

    // Grafana's interval variables as durations, every other variable as its "All" value.
    private static string Grafana(string expression) => GrafanaVariable().Replace(expression, m => m.Value.StartsWith("$__", StringComparison.Ordinal) ? "5m" : ".*");

    /// <summary>An annotation as Prometheus renders it, for templates of {{ $labels.NAME }} only.</summary>
    private static string Render(string template, IReadOnlyDictionary<string, string> labels)
    {
        var rendered = LabelTemplate().Replace(template, m => labels.GetValueOrDefault(m.Groups[1].Value, ""));
        Assert.DoesNotContain("{{", rendered); // another kind of template: this test would need to render it
        return rendered;
    }

    private static string Selector(string name, IEnumerable<KeyValuePair<string, string>> labels) =>
        name + "{" + string.Join(',', labels.Select(l => $"{l.Key}={JsonSerializer.Serialize(l.Value)}")) + "}";

    private static string Value(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    [GeneratedRegex("""^label_values\((?<selector>.+),\s*(?<label>[a-zA-Z_][a-zA-Z0-9_]*)\s*\)$""")]
    private static partial Regex LabelValues();

    [GeneratedRegex("""\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}""")]
    private static partial Regex LegendLabels();

    [GeneratedRegex("""\{\{\s*\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}""")]
    private static partial Regex LabelTemplate();

    [GeneratedRegex("""\$\{?[a-zA-Z_][a-zA-Z0-9_]*\}?""")]
    private static partial Regex GrafanaVariable();

    /// <summary>
    /// The seed incident on a daemon whose OTLP collector is not there (so tracer_export_failures_total exists), scraped
    /// once the pod's liveness drops are named after the EDR's program. Everything is gone again when the tests run.
    /// </summary>
    public sealed class IncidentScrape : IAsyncLifetime
    {
        public string Body { get; private set; } = "";

        internal List<PrometheusSample> Samples { get; private set; } = [];

        public async Task InitializeAsync()
        {
            using var network = new CalicoNetwork();
            var node = $"/run/netns/{network.NodeNamespace}";
            var dir = Directory.CreateTempSubdirectory("tracer-dashboard-");
            try
            {
                await using var api = await FakeKubernetesApi.StartIn(node);
                using var incident = ProbeIncident.Stage(network, api);
                var healthPort = NamespaceSockets.FreePortIn(node);
                using var daemon = TestDaemon.Start(network.NodeNamespace, api, dir, $"http://127.0.0.1:{NamespaceSockets.FreePortIn(node)}", healthPort);
                List<PrometheusSample> Scrape() => PrometheusScrape.Parse(Body = NamespaceSockets.HttpGetIn(node, healthPort, "/metrics").Body);
                Poll.Until(() => incident.ProbeFails() && Scrape() is var samples &&
                                 ProbeIncident.LivenessDrops(samples).Any(s => s["tracer_culprit_id"] == ProbeIncident.Culprit) &&
                                 samples.Any(s => s.Name == "tracer_export_failures_total"),
                           TimeSpan.FromSeconds(60), () => Body);
                Samples = PrometheusScrape.Parse(Body);
                Assert.Equal(0, daemon.Stop("TERM"));
            }
            finally
            {
                dir.Delete(recursive: true);
            }
        }

        public Task DisposeAsync() => Task.CompletedTask;
    }
}

/// <summary>deploy/prometheus/tracer-rules.yaml read as YAML.</summary>
internal static class TracerRules
{
    private static readonly string File = Path.Combine(RepositoryPaths.Root, "deploy", "prometheus", "tracer-rules.yaml");

    /// <summary>The PrometheusRule's spec: the content of a plain Prometheus rules file.</summary>
    public static Dictionary<object, object> Spec()
    {
        var rule = new DeserializerBuilder().Build().Deserialize<Dictionary<object, object>>(System.IO.File.ReadAllText(File));
        Assert.Equal(("monitoring.coreos.com/v1", "PrometheusRule"), ((string)rule["apiVersion"], (string)rule["kind"]));
        return (Dictionary<object, object>)rule["spec"];
    }

    /// <summary>Every rule of every group.</summary>
    public static List<Dictionary<object, object>> Rules() =>
        [.. ((List<object>)Spec()["groups"]).Cast<Dictionary<object, object>>()
            .SelectMany(g => ((List<object>)g["rules"]).Cast<Dictionary<object, object>>())];

    public static string? Severity(Dictionary<object, object> rule) => Text(rule, "labels", "severity");

    /// <summary>A string under a map of the rule (labels, annotations), or null.</summary>
    public static string? Text(Dictionary<object, object> rule, string map, string key) =>
        rule.GetValueOrDefault(map) is Dictionary<object, object> values ? values.GetValueOrDefault(key) as string : null;
}

/// <summary>Metric and label names in a PromQL expression, from its tokens (strings, ranges and Grafana variables skipped).</summary>
internal static partial class PromQl
{
    private static readonly HashSet<string> Keywords =
    [
        "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "inf", "nan",
        "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile",
    ];

    private static readonly HashSet<string> Grouping = ["by", "without", "on", "ignoring", "group_left", "group_right"];

    public static (HashSet<string> Metrics, HashSet<string> Labels) Names(string expression)
    {
        var tokens = Token().Matches(expression).Where(m => !m.Groups["space"].Success).ToList();
        var metrics = new HashSet<string>();
        var labels = new HashSet<string>();
        var inSelector = false;
        var inLabelList = false;
        for (var i = 0; i < tokens.Count; i++)
        {
            var token = tokens[i].Value;
            var next = i + 1 < tokens.Count ? tokens[i + 1].Value : "";
            if (token == "{")
                inSelector = true;
            else if (token == "}")
                inSelector = false;
            else if (inLabelList && token == ")")
                inLabelList = false;
            else if (!tokens[i].Groups["name"].Success)
                continue;
            else if (inSelector || inLabelList)
            {
                if (inLabelList || next is "=" or "!=" or "=~" or "!~")
                    labels.Add(token);
            }
            else if (Grouping.Contains(token) && next == "(")
            {
                inLabelList = true;
                i++;
            }
            else if (!Keywords.Contains(token) && next != "(")
                metrics.Add(token);
        }
        return (metrics, labels);
    }

    [GeneratedRegex("""
        (?<space>\s+)|(?<string>"(\\.|[^"\\])*"|'(\\.|[^'\\])*'|`[^`]*`)|(?<range>\[[^\]]*\])|(?<variable>\$\{?\w+\}?)
        |(?<number>[0-9][0-9.eE+]*[a-z]*)|(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)|(?<op>=~|!~|!=|==|>=|<=|[-+*/%^=<>{}(),@])
        """, RegexOptions.IgnorePatternWhitespace)]
    private static partial Regex Token();
}

/// <summary>promtool from Debian's prometheus package, as tests/run.sh fetches it (scripts/install-promtool.sh).</summary>
internal static class Promtool
{
    public static string Path
    {
        get
        {
            var path = Environment.GetEnvironmentVariable("TRACER_PROMTOOL") is { Length: > 0 } p ? p : "/var/cache/tracer-tests/promtool/usr/bin/promtool";
            Assert.True(File.Exists(path), $"promtool is missing at {path}: tests/run.sh fetches it with scripts/install-promtool.sh (as root), " +
                                           "or set TRACER_PROMTOOL to a promtool");
            return path;
        }
    }

    /// <summary>Runs promtool; fails with its own words unless it succeeds.</summary>
    public static void Check(string promtool, params string[] arguments)
    {
        var result = Shell.Run(promtool, arguments);
        Assert.True(result.ExitCode == 0, $"promtool {string.Join(' ', arguments)} exited {result.ExitCode}:\n{result.Stdout}\n{result.Stderr}");
    }
}

/// <summary>A temporary directory, deleted with everything in it.</summary>
internal sealed class TemporaryDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("tracer-deploy-").FullName;

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
