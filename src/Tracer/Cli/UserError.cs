namespace Tracer.Cli;

/// <summary>Process exit codes; part of the command-line interface.</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int Usage = 2;
    public const int MissingPrivilegeOrFeature = 3;

    /// <summary>tracer diagnose: the pod is not reachable, and Tracer named who drops its packets.</summary>
    public const int DroppedAndAttributed = 4;

    /// <summary>tracer diagnose: the pod is not reachable, and Tracer could not say why.</summary>
    public const int Unexplained = 5;
}

/// <summary>
/// A problem the user can fix: printed as one sentence plus what to do, never as a stack trace.
/// </summary>
internal sealed class UserError(string message, string remedy, int exitCode) : Exception(message)
{
    /// <summary>The one place that says which permissions Tracer needs and what it changes.</summary>
    public const string PermissionsSection = "README, 'Permissions and what Tracer changes on the node'";

    public string Remedy { get; } = remedy;

    public int ExitCode { get; } = exitCode;
}
