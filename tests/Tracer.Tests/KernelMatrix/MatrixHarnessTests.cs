using System.Diagnostics;
using System.Text.Json;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.KernelMatrix;

/// <summary>The harness itself: a guest that does not finish in time is stopped and reported with its console.</summary>
[MatrixTest]
public sealed class MatrixHarnessTests
{
    [Fact]
    public async Task AGuestThatOverrunsItsTimeBoundIsStoppedAndReportedWithItsConsole()
    {
        var output = Directory.CreateTempSubdirectory("tracer-matrix-test").FullName;
        try
        {
            var start = new ProcessStartInfo(Path.Combine(RepositoryPaths.Root, "tests", "kernel-matrix", "matrix.sh"))
            {
                UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true,
                Environment = { ["TRACER_MATRIX_OUTPUT"] = output, ["TRACER_GUEST_TIMEOUT"] = "3" },
            };
            start.ArgumentList.Add("bookworm");
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = await process.StandardError.ReadToEndAsync();
            await stdout;
            using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(15));
            await process.WaitForExitAsync(bound.Token);

            Assert.Equal(3, process.ExitCode);
            var run = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "bookworm", "run.json"))).RootElement;
            Assert.StartsWith("hung: no end within 3s", run.GetProperty("outcome").GetString());
            Assert.Contains("---- console of", stderr);
            Assert.True(File.Exists(Path.Combine(output, "bookworm", "console.log")));
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }
}
