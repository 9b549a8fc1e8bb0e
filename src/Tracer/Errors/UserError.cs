namespace Tracer.Errors;

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
