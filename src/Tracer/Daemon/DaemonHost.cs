using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Tracer.Cli;

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
        catch (Exception e) when (e is InvalidDataException or FileNotFoundException or FormatException)
        {
            throw new UserError($"Cannot read the settings: {e.Message}", $"Fix {settingsFile} (JSON), or point --settings at another file.", ExitCodes.Usage);
        }
        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
        // stderr, as for every tracer command: stdout carries nothing but records.
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        if (builder.Configuration[nameof(DaemonOptions.LogFormat)] == "json")
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
        builder.Services.AddOptions<DaemonOptions>().Bind(builder.Configuration).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<DaemonOptions>, DaemonOptionsValidator>();
        builder.Services.AddSingleton(sp => new DaemonHealth(sp.GetRequiredService<IOptions<DaemonOptions>>().Value.Interval));
        builder.Services.AddSingleton<DaemonServices>();
        builder.Services.AddSingleton<OnDemandSessions>();
        builder.Services.AddSingleton<ControlSocket>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ControlSocket>());
        builder.Services.AddHostedService<HealthEndpoint>();
        builder.Services.AddHostedService<NodeTracing>();

        using var host = builder.Build();
        Validate(host.Services, settingsFile);
        host.Services.GetRequiredService<ControlSocket>().Claim(); // a second daemon is refused before anything is loaded
        await host.RunAsync(cancellationToken).ConfigureAwait(false);
        return Environment.ExitCode;
    }

    /// <summary>Binds and checks the settings before anything starts, so a bad one is one sentence, not a host failure.</summary>
    private static void Validate(IServiceProvider services, string settingsFile)
    {
        var remedy = $"Fix it in {settingsFile}, the TRACER_* environment, or the command line ('tracer daemon --help').";
        try
        {
            _ = services.GetRequiredService<IOptions<DaemonOptions>>().Value;
        }
        catch (OptionsValidationException e)
        {
            throw new UserError($"Invalid setting: {string.Join("; ", e.Failures)}.", remedy, ExitCodes.Usage);
        }
        catch (InvalidOperationException e) // the binder: a value of the wrong type ("Failed to convert … at 'Interval' to …")
        {
            throw new UserError($"Invalid setting: {e.Message}", remedy, ExitCodes.Usage);
        }
    }
}
