using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Tracer.Doctor;
using Tracer.Errors;

namespace Tracer.Daemon;

/// <summary>
/// <c>tracer daemon</c>: the generic host with the daemon's services. Settings come from
/// /etc/tracer/appsettings.json, TRACER_* variables and the command line, validated before anything is
/// loaded; under systemd it notifies readiness and logs in the journal's format.
/// </summary>
internal static class DaemonHost
{
    public const string SettingsFile = "/etc/tracer/appsettings.json";

    public static async Task<int> RunAsync(string settingsFile, IReadOnlyDictionary<string, string?> commandLine, bool verbose, CancellationToken cancellationToken)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        try
        {
            // The configuration manager reads each source as it is added: a missing or broken file fails here.
            builder.Configuration
                .AddJsonFile(settingsFile, optional: settingsFile == SettingsFile, reloadOnChange: false)
                .AddEnvironmentVariables("TRACER_")
                .AddInMemoryCollection(commandLine);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or FormatException or UnauthorizedAccessException)
        {
            throw new UserError($"Cannot read the settings file {settingsFile}: {OneLine(e.InnerException?.Message ?? e.Message)}",
                                "Fix it (JSON, as docs/daemon.md shows), or point --settings at another file.", ExitCodes.Usage);
        }
        // Settings first, then privileges: a typo is reported as such even when run without root.
        var options = DaemonOptions.Read(builder.Configuration, settingsFile);
        Preflight.Check();
        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
        // stderr, as for every tracer command: stdout carries nothing but records.
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        if (options.LogFormat == "json")
        {
            builder.Logging.AddJsonConsole(o =>
            {
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                o.UseUtcTimestamp = true;
            });
        }
        else
        {
            builder.Logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
                o.UseUtcTimestamp = true;
            });
        }
        builder.Logging.SetMinimumLevel(verbose ? LogLevel.Debug : LogLevel.Information);
        builder.Services.AddSystemd();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(20));
        builder.Services.AddSingleton(Options.Create(options));
        builder.Services.AddSingleton(new DaemonHealth(options.Interval));
        builder.Services.AddSingleton<DaemonServices>();
        builder.Services.AddSingleton<OnDemandSessions>();
        builder.Services.AddSingleton<ControlSocket>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ControlSocket>());
        builder.Services.AddHostedService<HealthEndpoint>();
        builder.Services.AddHostedService<NodeTracing>();
        builder.Services.AddHostedService<HeapTrim>();

        using var host = builder.Build();
        host.Services.GetRequiredService<ControlSocket>().Claim(); // a second daemon is refused before anything is loaded
        await host.RunAsync(cancellationToken).ConfigureAwait(false);
        return Environment.ExitCode;
    }

    private static string OneLine(string text) => string.Join(' ', text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
