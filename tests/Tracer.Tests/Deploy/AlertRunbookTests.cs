using System.Text.RegularExpressions;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Deploy;

/// <summary>Every alert of deploy/prometheus/tracer-rules.yaml leads to its runbook in docs/metrics.md.</summary>
[UnitTest]
public sealed partial class AlertRunbookTests
{
    [Fact]
    public void EveryAlertHasASeverityASummaryAndARunbookSectionOfItsOwn()
    {
        var headings = Heading().Matches(File.ReadAllText(Path.Combine(RepositoryPaths.Root, "docs", "metrics.md")))
            .Select(m => m.Groups[1].Value).ToHashSet();
        var alerts = TracerRules.Rules().Where(r => r.ContainsKey("alert")).ToList();
        Assert.NotEmpty(alerts);
        Assert.All(alerts, alert =>
        {
            var name = (string)alert["alert"];
            Assert.Contains(TracerRules.Severity(alert), (string[])["critical", "warning"]);
            Assert.False(string.IsNullOrWhiteSpace(TracerRules.Text(alert, "annotations", "summary")), name);
            Assert.Contains(name, headings);
            Assert.EndsWith($"docs/metrics.md#runbook-{name.ToLowerInvariant()}", TracerRules.Text(alert, "annotations", "runbook_url"));
        });
    }

    [GeneratedRegex("^## Runbook: (\\S+)$", RegexOptions.Multiline)]
    private static partial Regex Heading();
}
