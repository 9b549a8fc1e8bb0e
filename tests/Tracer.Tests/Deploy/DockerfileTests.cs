using System.Text.Json;
using System.Text.RegularExpressions;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Deploy;

/// <summary>
/// The Dockerfile's runtime (last) stage against what out/tracer needs on this Debian 12 machine: each library
/// it links or dlopens, and each tool attribution runs, comes from a package the stage installs.
/// </summary>
[UnitTest]
public partial class DockerfileTests
{
    private static readonly List<string> Stages = ReadStages();
    private static readonly string Runtime = Stages[^1];
    private static readonly HashSet<string> Installed = [.. AptInstall().Matches(Runtime)
        .SelectMany(m => m.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(word => !word.StartsWith('-'))];

    [Fact]
    public void RuntimeStageInstallsThePackageOfEveryLibraryTracerLoads()
    {
        var linked = Shell.Check("ldd", RepositoryPaths.TracerExecutable).Split('\n')
            .Select(line => line.Split("=>").Last().Trim().Split(' ')[0]).Where(path => path.StartsWith('/'));
        // The libraries of the generated bindings, by soname ("libc" is among ldd's).
        var dlopened = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepositoryPaths.Root, "native", "bindings.json")))
            .RootElement.GetProperty("outputs").EnumerateArray()
            .Select(o => o.TryGetProperty("library", out var library) ? library.GetString()! : "")
            .Where(name => name.Contains(".so", StringComparison.Ordinal)).Select(LibraryPath).ToList();
        Assert.NotEmpty(dlopened);
        foreach (var path in linked.Concat(dlopened))
        {
            var package = Package(path);
            if (package != "libc6") // debian:12-slim has it
                Assert.True(Installed.Contains(package), $"{path} comes from {package}, which the runtime stage does not install");
        }
    }

    [Theory]
    [InlineData("ip")]
    [InlineData("tc")]
    [InlineData("iptables-legacy")]
    [InlineData("ip6tables-legacy")]
    public void RuntimeStageInstallsTheToolsAttributionRuns(string tool) // src/Tracer/Attribution/NodeTools callers
    {
        var path = Environment.GetEnvironmentVariable("PATH")!.Split(':').Append("/usr/sbin").Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists)
                   ?? throw new FileNotFoundException($"{tool} is not installed here: run ./build.sh first");
        var package = Package(path);
        Assert.True(Installed.Contains(package), $"{tool} comes from {package}, which the runtime stage does not install");
    }

    [Fact]
    public void RuntimeStageCopiesTracerFromTheBuildStageAndCarriesNoToolchain()
    {
        var build = BuildStageName().Match(Stages[^2]).Groups[1].Value;
        Assert.Matches($@"(?m)^COPY --from={build} \S+/out/tracer /usr/local/bin/tracer$", Runtime);
        Assert.Contains("ENTRYPOINT [\"tracer\"]", Runtime, StringComparison.Ordinal);
        Assert.DoesNotContain("dotnet/sdk", Runtime, StringComparison.Ordinal);
        Assert.NotEmpty(Installed);
        Assert.DoesNotContain(Installed, p => p.StartsWith("clang", StringComparison.Ordinal) || p.StartsWith("llvm", StringComparison.Ordinal) ||
                                              p.StartsWith("gcc", StringComparison.Ordinal) || p.StartsWith("dotnet", StringComparison.Ordinal) ||
                                              p.EndsWith("-dev", StringComparison.Ordinal));
    }

    /// <summary>Each stage's instructions, continuation lines joined and comments left out.</summary>
    private static List<string> ReadStages()
    {
        var lines = File.ReadLines(Path.Combine(RepositoryPaths.Root, "Dockerfile")).Where(l => !l.TrimStart().StartsWith('#'));
        var text = string.Join('\n', lines).Replace("\\\n", " ", StringComparison.Ordinal);
        return [.. Regex.Split(text, "(?m)^(?=FROM )").Where(s => s.StartsWith("FROM ", StringComparison.Ordinal))];
    }

    /// <summary>Where the dynamic loader finds <paramref name="soname"/> (x86-64 entries of ldconfig's cache).</summary>
    private static string LibraryPath(string soname) =>
        // By its path: /sbin is on root's PATH only.
        Shell.Check("/sbin/ldconfig", "-p").Split('\n').Select(l => l.Trim())
            .Where(l => l.StartsWith(soname + " (", StringComparison.Ordinal) && l.Contains("x86-64", StringComparison.Ordinal))
            .Select(l => l.Split("=> ")[1]).FirstOrDefault() ?? throw new FileNotFoundException($"{soname} is not installed here: run ./build.sh first");

    /// <summary>The package that ships <paramref name="path"/>, tried as is and resolved, with and without /usr (merged /usr).</summary>
    private static string Package(string path)
    {
        var resolved = Shell.Check("realpath", path).Trim();
        var candidates = new[] { path, resolved }.SelectMany(p => new[] { p, p.StartsWith("/usr/", StringComparison.Ordinal) ? p[4..] : "/usr" + p });
        foreach (var candidate in candidates.Distinct())
        {
            var result = Shell.Run("dpkg", "-S", candidate);
            if (result.ExitCode == 0)
                return result.Stdout.Split(':')[0];
        }
        throw new InvalidOperationException($"no installed package ships {path}");
    }

    [GeneratedRegex(@"apt-get install ([^&\n]+)")]
    private static partial Regex AptInstall();

    [GeneratedRegex(@"^FROM \S+ AS (\S+)")]
    private static partial Regex BuildStageName();
}
