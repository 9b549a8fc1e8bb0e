using Tracer.Errors;
using Tracer.Input;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Cli;

/// <summary>Bad input gets one clear sentence, the documented exit code, and no stack trace.</summary>
[UnitTest]
public sealed class CommandLineTests
{
    [Theory]
    [InlineData("--ip", "10.0.0.300", "'10.0.0.300' is not an IP address or CIDR")]
    [InlineData("--ip", "10.0.0.1/24", "did you mean 10.0.0.0/24?")]
    [InlineData("--ip", "fd00::/129", "'fd00::/129' is not a valid CIDR")]
    [InlineData("--duration", "soon", "'soon' is not a duration")]
    [InlineData("--output", "xml", "xml")]
    [InlineData("--frobnicate", "1", "--frobnicate")]
    [InlineData("--otlp-endpoint", "jaeger:4317", "'jaeger:4317' is not an http:// or https:// URL")]
    [InlineData("--otlp-protocol", "thrift", "thrift")]
    [InlineData("--duration", "9000h", "'9000h' is not between 1ms and 8760h")]
    [InlineData("--duration", "1e12", "'1e12' is not a duration")] // plain decimals only
    [InlineData("--ip", "010.0.0.1", "'010.0.0.1' is not an IP address or CIDR")] // not octal 8.0.0.1
    [InlineData("--ip", "10.1", "'10.1' is not an IP address or CIDR")] // not 10.0.0.1
    public void MalformedArgumentsAreUsageErrors(string option, string value, string expected) =>
        AssertUsageError(expected, "trace", option, value);

    [Theory]
    [InlineData("'300.1.1.1' is not an IP address or CIDR", "--ip", "300.1.1.1")]
    [InlineData("'abc' is not a port", "--ip", "10.0.0.1", "--port", "abc")]
    [InlineData("'0' is not a port", "--ip", "10.0.0.1", "--port", "0")]
    [InlineData("--path needs --port", "--ip", "10.0.0.1", "--path", "/healthz")]
    public void MalformedDiagnoseArgumentsAreUsageErrors(string expected, params string[] arguments) =>
        AssertUsageError(expected, ["diagnose", .. arguments]);

    [Fact]
    public void TheUsageHintNamesTheCommandInOrder() =>
        AssertUsageError("See 'tracer session start --help'.", "session", "start", "--ip", "nonsense");

    private static void AssertUsageError(string expected, params string[] arguments)
    {
        var result = Shell.Run(RepositoryPaths.TracerExecutable, arguments);

        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains(expected, result.Stderr);
        Assert.Contains("--help", result.Stderr);
        Assert.DoesNotContain("   at ", result.Stderr);
        Assert.DoesNotContain("Unhandled exception", result.Stderr);
        Assert.Empty(result.Stdout);
    }

    [Fact]
    public void WithoutPrivilegesTraceSaysWhatIsMissingBeforeLoadingAnything()
    {
        // As an operator without root would run it: user nobody, no capabilities.
        var result = Shell.RunTracerUnprivileged([], "trace", "--duration", "1s");

        Assert.Equal(ExitCodes.MissingPrivilegeOrFeature, result.ExitCode);
        Assert.Contains("needs root", result.Stderr);
        Assert.Contains(UserError.PermissionsSection, result.Stderr);
        Assert.DoesNotContain("libbpf", result.Stderr); // stopped by the check, not by a refused load
        Assert.DoesNotContain("   at ", result.Stderr);
    }

    [Fact]
    public void OtlpEndpointNoneIsTakenAndOverridesTheVariable()
    {
        // Unprivileged, an accepted command line stops at the privilege check (exit 3), after the OTLP settings were read.
        var result = Shell.RunTracerUnprivileged(["OTEL_EXPORTER_OTLP_ENDPOINT=not-a-url"], "trace", "--otlp-endpoint", "none");
        var refused = Shell.RunTracerUnprivileged(["OTEL_EXPORTER_OTLP_ENDPOINT=not-a-url"], "trace");

        Assert.Equal(ExitCodes.MissingPrivilegeOrFeature, result.ExitCode);
        Assert.DoesNotContain("OTEL_EXPORTER_OTLP_ENDPOINT", result.Stderr);
        Assert.Equal(ExitCodes.Usage, refused.ExitCode); // the variable is read when no --otlp-endpoint is given
        Assert.Contains("OTEL_EXPORTER_OTLP_ENDPOINT 'not-a-url'", refused.Stderr);
    }

    [Theory]
    [InlineData("10.1.2.3", "10.1.2.3/32")]
    [InlineData("10.1.0.0/16", "10.1.0.0/16")]
    [InlineData("fd00::7", "fd00::7/128")]
    [InlineData("fd00::/64", "fd00::/64")]
    public void AddressesAndPrefixesParse(string text, string expected)
    {
        Assert.Equal(expected, ArgumentParsers.ParseNetwork(text, out var error)?.ToString());
        Assert.Null(error);
    }

    [Theory]
    [InlineData("30s", 30)]
    [InlineData("2m", 120)]
    [InlineData("1h", 3600)]
    [InlineData("500ms", 0.5)]
    [InlineData("45", 45)]
    public void DurationsParse(string text, double seconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(seconds), ArgumentParsers.ParseDuration(text, out _));
    }

    [Theory]
    [InlineData("0s")]
    [InlineData("-5s")]
    [InlineData("5 minutes")]
    [InlineData("00:00:05")] // one form everywhere: not .NET's TimeSpan
    [InlineData("1e3s")]
    public void NonsenseDurationsAreRejected(string text)
    {
        Assert.Null(ArgumentParsers.ParseDuration(text, out var error));
        Assert.NotNull(error);
    }
}
