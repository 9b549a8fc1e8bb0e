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

    public static async Task<int> RunAsync(IReadOnlyDictionary<string, string?> commandLine, bool verbose, CancellationToken cancellationToken)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration
            .AddJsonFile(SettingsFile, optional: true, reloadOnChange: false)
            .AddEnvironmentVariables("TRACER_")
            .AddInMemoryCollection(commandLine);
        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            o.UseUtcTimestamp = true;
        });
        builder.Logging.SetMinimumLevel(verbose ? LogLevel.Debug : LogLevel.Information);
        builder.Services.AddSystemd();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(20));
        builder.Services.AddOptions<DaemonOptions>().Bind(builder.Configuration).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<DaemonOptions>, DaemonOptionsValidator>();
        builder.Services.AddSingleton(sp => new DaemonHealth(sp.GetRequiredService<IOptions<DaemonOptions>>().Value.Interval));
        builder.Services.AddSingleton<DaemonServices>();
        builder.Services.AddSingleton<OnDemandSessions>();
        // In this order: a second daemon is refused before any program is loaded.
        builder.Services.AddHostedService<ControlSocket>();
        builder.Services.AddHostedService<HealthEndpoint>();
        builder.Services.AddHostedService<NodeTracing>();

        using var host = builder.Build();
        try
        {
            await host.RunAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OptionsValidationException e)
        {
            throw new UserError($"Invalid setting: {string.Join("; ", e.Failures)}.",
                                $"Fix it in {SettingsFile}, the TRACER_* environment, or the command line ('tracer daemon --help').", ExitCodes.Usage);
        }
        return Environment.ExitCode;
    }
}
