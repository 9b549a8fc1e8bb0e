using Tracer.Native;
using Tracer.Probes;
using Tracer.Records;

namespace Tracer.Attribution;

/// <summary>
/// The owner of a drop by an NFQUEUE's verdict: the process listening on that queue in the drop's network namespace
/// (kube-network-policies and other controllers that decide NetworkPolicy in user space). The queue's port id and
/// socket are read each interval it is needed (two small files); the walk for the socket's processes is kept by inode.
/// </summary>
internal static class NfQueueOwners
{
    public static CulpritOwner? Of(Culprit culprit, DropFlow flow, NodeAnswers node)
    {
        if (culprit.Queue is not { } queue || node.NfQueueFiles(flow.Netns) is not { } files ||
            !NfQueueListeners.Parse(files.Queues).TryGetValue(queue, out var portId) ||
            NfQueueListeners.SocketInode(files.Netlink, Mnl.NETLINK_NETFILTER, portId) is not { } inode)
            return null; // nobody listens (the culprit says so), or the namespace's files are not Tracer's to read
        var holders = node.Remembered(("netlink-socket-holders", inode), () => node.SocketHolders(inode));
        List<string> evidence =
        [
            $"nfnetlink_queue of netns {flow.Netns}: queue {queue} bound by netlink port id {portId}",
            $"netlink of netns {flow.Netns}: NETLINK_NETFILTER socket of port id {portId} is inode {inode}",
            .. holders.Select(pid => $"/proc/{pid}/fd: socket:[{inode}]"),
        ];
        return ProcessOwners.Of(holders, $"NFQUEUE {queue}'s verdicts come from", evidence, node);
    }
}
