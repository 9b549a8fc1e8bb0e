using System.Diagnostics;
using System.Text.Json;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.KernelMatrix;

/// <summary>What one guest of tests/kernel-matrix reported: its run, doctor output and each scenario's lines.</summary>
internal sealed class GuestResults(string suite, string directory, JsonElement run, List<(string Scenario, string Kind, JsonElement Data)> lines)
{
    public string Suite => suite;

    public string Directory => directory;

    public string Outcome => run.GetProperty("outcome").GetString()!;

    public string Kernel => run.GetProperty("kernel").GetString()!;

    public JsonElement? Done => lines.Where(l => l.Kind == "done").Select(l => (JsonElement?)l.Data).FirstOrDefault();

    public JsonElement Doctor => lines.Single(l => l.Kind == "doctor").Data;

    public JsonElement Status(string scenario) => lines.Single(l => l.Scenario == scenario && l.Kind == "status").Data;

    /// <summary>What tracer diagnose printed and its exit code, from the diagnose scenario.</summary>
    public JsonElement Diagnose => lines.Single(l => l.Kind == "diagnose").Data;

    /// <summary>The scenario's records of flows and aggregates (not the overflow lines: see <see cref="Unkept"/>).</summary>
    public List<JsonElement> Records(string scenario) =>
        [.. lines.Where(l => l.Scenario == scenario && l.Kind == "record" && !l.Data.TryGetProperty("overflow", out _)).Select(l => l.Data)];

    /// <summary>
    /// Drops the guest's kernel counted without their flow: on aggregate lines (its flow map refused the bucket — seen
    /// under TCG on 6.1 — so the pod's aggregate took it, with address, reason and culprit) or, where even that refused,
    /// on overflow lines. Exact in total; a scenario's per-flow counts may fall short by this much.
    /// </summary>
    public long Unkept(string scenario) =>
        lines.Where(l => l.Scenario == scenario && l.Kind == "record" && (l.Data.TryGetProperty("overflow", out _) || l.Data.TryGetProperty("aggregate", out _)))
             .Sum(l => l.Data.GetProperty("count").GetInt64());

    public static GuestResults Read(string directory, string suite)
    {
        var run = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, "run.json"))).RootElement;
        var lines = new List<(string, string, JsonElement)>();
        var results = Path.Combine(directory, "results.jsonl");
        foreach (var text in File.Exists(results) ? File.ReadLines(results) : [])
        {
            if (!text.StartsWith('{'))
                continue;
            var line = JsonDocument.Parse(text).RootElement;
            lines.Add((line.GetProperty("scenario").GetString()!, line.GetProperty("kind").GetString()!, line.GetProperty("data")));
        }
        return new GuestResults(suite, directory, run, lines);
    }
}

/// <summary>
/// Runs tests/kernel-matrix/matrix.sh once for the test class (every suite, in QEMU: several minutes)
/// and reads what each guest reported. TRACER_KERNEL_MATRIX=reuse reads the results of the last run instead.
/// xunit makes a class fixture only for a class with tests to run: a unit or kernel run never starts QEMU.
/// </summary>
public sealed class KernelMatrixResults
{
    public static readonly string[] Suites = ["bullseye", "bookworm", "trixie"];

    private readonly Dictionary<string, GuestResults> _guests = [];
    private readonly Dictionary<string, GuestResults> _selinuxGuests = [];

    public KernelMatrixResults()
    {
        var output = Path.Combine(RepositoryPaths.Root, "out", "kernel-matrix");
        if (Environment.GetEnvironmentVariable("TRACER_KERNEL_MATRIX") != "reuse")
            Run(Path.Combine(RepositoryPaths.Root, "tests", "kernel-matrix", "matrix.sh"));
        foreach (var suite in Suites)
        {
            _guests[suite] = GuestResults.Read(Path.Combine(output, suite), suite);
            _selinuxGuests[suite] = GuestResults.Read(Path.Combine(output, suite, "selinux"), suite);
        }
    }

    internal GuestResults this[string suite] => _guests[suite];

    /// <summary>The suite's second boot, with SELinux among the LSMs: the selinux scenario alone.</summary>
    internal GuestResults Selinux(string suite) => _selinuxGuests[suite];

    private static void Run(string script)
    {
        var start = new ProcessStartInfo(script) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        // Each guest is bounded by the script itself (TRACER_GUEST_TIMEOUT); this only guards the script.
        if (!process.WaitForExit(TimeSpan.FromMinutes(60)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("tests/kernel-matrix/matrix.sh did not finish within 60 minutes");
        }
        // Exit 3: a guest did not complete, which the tests report with its console; anything else is fatal here.
        if (process.ExitCode is not (0 or 3))
            throw new InvalidOperationException($"matrix.sh exited {process.ExitCode}: {stderr.Result}{stdout.Result}");
    }
}
