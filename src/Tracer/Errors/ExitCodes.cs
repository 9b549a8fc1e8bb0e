namespace Tracer.Errors;

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
