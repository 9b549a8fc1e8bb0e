namespace Tracer.Tests.Infrastructure;

/// <summary>
/// tests/tools/nfqueue_drop, run in a namespace: binds an NFQUEUE there and answers NF_DROP for every packet, as a
/// user-space NetworkPolicy controller (kube-network-policies) denying it does; killed on Dispose.
/// </summary>
internal sealed class NfQueueConsumer : IDisposable
{
    private readonly ToolProcess _process;

    private NfQueueConsumer(ToolProcess process) => _process = process;

    /// <summary>The consumer's process.</summary>
    public int Pid => _process.Pid;

    /// <summary>The consumer's executable.</summary>
    public static string Path => ToolProcess.Executable("nfqueue_drop", "mnl");

    /// <summary>Binds <paramref name="queue"/> in <paramref name="ns"/>; returns once the queue is the consumer's ("bound").</summary>
    public static NfQueueConsumer Start(string ns, int queue) =>
        new(ToolProcess.Start("nfqueue_drop", "mnl", ns, "bound", queue.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    public void Dispose() => _process.Dispose();
}
